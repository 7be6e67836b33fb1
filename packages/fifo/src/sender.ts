import { closeSync } from "node:fs";
import { ChannelError, type Sender } from "@ipc-sampler/core";
import { FdWatcher, WRITABLE, writeEach } from "@ipc-sampler/posix";
import { BODY_MAX, FRAGMENT_FIRST, FRAGMENT_MORE, FRAME_BYTES, FRAMES, GOODBYE, HEADER_BYTES, HELLO, PACKET_BYTES, writeHeader, writeU32 } from "./protocol.js";

/** Packets per chunk: one chunk is written with one native call. */
const SLOTS = 64;
const HIGH_WATER = 1024 * 1024;
const MAX_POOLED = 16;

interface Chunk {
  readonly buf: Buffer;
  /** (start, length) of each sealed packet. */
  readonly pairs: Int32Array;
  sealed: number;
  written: number;
}

let streams = 0;

/**
 * The producing end of a shared FIFO. Messages are copied into packets of at
 * most PIPE_BUF bytes (many small messages per packet, a large message split
 * over several); packets are written at the next turn of the event loop, or
 * as soon as a chunk of 64 fills, each with its own write(2) so it is atomic.
 * When the FIFO is full the sender waits for POLLOUT; it never spins.
 */
export class FifoSender implements Sender {
  readonly maxMessageSize: number;
  private readonly pid = process.pid;
  private readonly stream = streams++ & 0xffff;
  private readonly chunks: Chunk[] = [];
  private readonly pool: Chunk[] = [];
  /** Bytes in the open packet (header included); 0: no open packet. */
  private fill = 0;
  private queued = 0;
  private scheduled = false;
  private failure: ChannelError | undefined;
  private closing: Promise<void> | undefined;
  private isClosed = false;
  private fdOpen = true;
  private readonly watcher: FdWatcher;
  private drainWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private emptyWaiter: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  private readonly flushSoon = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(private readonly fd: number, readonly resource: string, maxMessageSize: number) {
    this.maxMessageSize = maxMessageSize;
    this.watcher = new FdWatcher(fd, (err) => this.onWritable(err), resource);
    this.openPacket(HELLO);
    this.seal();
    this.writeOut();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.isClosed || this.closing) throw new ChannelError("ECLOSED", `cannot send to ${this.resource}: this sender is closed`, { resource: this.resource });
  }

  write(message: Uint8Array): boolean {
    this.check();
    const len = message.length;
    if (len > this.maxMessageSize) {
      throw new ChannelError("EMSGSIZE", `cannot send a ${len}-byte message to ${this.resource}: the limit is ${this.maxMessageSize} bytes`, { resource: this.resource });
    }
    const frame = FRAME_BYTES + len;
    if (frame <= BODY_MAX) {
      if (this.fill !== 0 && this.fill + frame > PACKET_BYTES) this.seal();
      if (this.fill === 0) this.openPacket(FRAMES);
      const chunk = this.chunks[this.chunks.length - 1]!;
      const at = chunk.sealed * PACKET_BYTES + this.fill;
      writeU32(chunk.buf, at, len);
      chunk.buf.set(message, at + FRAME_BYTES);
      this.fill += frame;
    } else {
      this.fragment(message);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushSoon);
    }
    return this.queued + this.fill <= HIGH_WATER;
  }

  private fragment(message: Uint8Array): void {
    if (this.fill !== 0) this.seal();
    let pos = 0;
    let first = true;
    while (pos < message.length) {
      this.openPacket(first ? FRAGMENT_FIRST : FRAGMENT_MORE);
      const chunk = this.chunks[this.chunks.length - 1]!;
      let at = chunk.sealed * PACKET_BYTES + HEADER_BYTES;
      let room = BODY_MAX;
      if (first) {
        writeU32(chunk.buf, at, message.length);
        at += FRAME_BYTES;
        room -= FRAME_BYTES;
        this.fill += FRAME_BYTES;
        first = false;
      }
      const take = Math.min(room, message.length - pos);
      chunk.buf.set(message.subarray(pos, pos + take), at);
      this.fill += take;
      pos += take;
      this.seal();
    }
  }

  private openPacket(kind: number): void {
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || chunk.sealed === SLOTS) {
      chunk = this.pool.pop() ?? { buf: Buffer.allocUnsafeSlow(SLOTS * PACKET_BYTES), pairs: new Int32Array(2 * SLOTS), sealed: 0, written: 0 };
      this.chunks.push(chunk);
    }
    // The length is filled in by seal(); the kind stays in the top bits.
    writeHeader(chunk.buf, chunk.sealed * PACKET_BYTES, this.pid, this.stream, kind, 0);
    this.fill = HEADER_BYTES;
  }

  private seal(): void {
    const chunk = this.chunks[this.chunks.length - 1]!;
    const start = chunk.sealed * PACKET_BYTES;
    const body = this.fill - HEADER_BYTES;
    chunk.buf[start + 6] = body & 0xff;
    chunk.buf[start + 7] = (chunk.buf[start + 7]! & 0xf0) | (body >>> 8);
    chunk.pairs[2 * chunk.sealed] = start;
    chunk.pairs[2 * chunk.sealed + 1] = this.fill;
    chunk.sealed++;
    this.queued += this.fill;
    this.fill = 0;
    // A full chunk goes out at once, unless the FIFO is already full.
    if (chunk.sealed === SLOTS && this.watcher.events === 0) this.writeOut();
  }

  private flush(): void {
    if (this.failure) return;
    if (this.fill !== 0) this.seal();
    this.writeOut();
  }

  /** Writes sealed packets until done or the FIFO is full (then waits for POLLOUT). */
  private writeOut(): void {
    if (this.failure) return;
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const pending = chunk.sealed - chunk.written;
      if (pending > 0) {
        let n: number;
        try {
          n = writeEach(this.fd, chunk.buf, chunk.pairs, chunk.written, pending);
        } catch (err) {
          return this.fail(this.writeError(err));
        }
        for (let i = chunk.written; i < chunk.written + n; i++) this.queued -= chunk.pairs[2 * i + 1]!;
        chunk.written += n;
        if (n < pending) {
          this.watcher.start(WRITABLE);
          this.wake();
          return;
        }
      }
      const isTail = this.chunks.length === 1;
      if (isTail && this.fill !== 0) break; // the open packet lives in this chunk
      this.chunks.shift();
      chunk.sealed = 0;
      chunk.written = 0;
      if (this.pool.length < MAX_POOLED) this.pool.push(chunk);
    }
    this.watcher.stop();
    this.wake();
  }

  private onWritable(err: ChannelError | undefined): void {
    this.writeOut();
    // POLLERR: the receiver closed its end. writeOut above saw EPIPE unless nothing was pending.
    if (err && !this.failure) this.fail(new ChannelError("EPEERGONE", `cannot send to ${this.resource}: the receiver went away`, { resource: this.resource, cause: err }));
  }

  private writeError(err: unknown): ChannelError {
    const e = err as ChannelError;
    if (e.errno === "EPIPE") {
      return new ChannelError("EPEERGONE", `cannot send to ${this.resource}: the receiver went away`, { errno: "EPIPE", syscall: "write", resource: this.resource, cause: err });
    }
    return e instanceof ChannelError ? e : new ChannelError("ESYSCALL", `cannot send to ${this.resource}: ${String(err)}`, { resource: this.resource, cause: err });
  }

  private wake(): void {
    if (this.queued + this.fill <= HIGH_WATER && this.drainWaiters.length > 0) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const x of w) x.resolve();
    }
    if (this.queued === 0 && this.fill === 0 && this.emptyWaiter) {
      const w = this.emptyWaiter;
      this.emptyWaiter = undefined;
      w.resolve();
    }
  }

  private fail(err: ChannelError): void {
    if (this.failure) return;
    this.failure = err;
    this.release();
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const x of w) x.reject(err);
    const e = this.emptyWaiter;
    this.emptyWaiter = undefined;
    e?.reject(err);
  }

  private release(): void {
    this.watcher.close();
    if (this.fdOpen) {
      this.fdOpen = false;
      closeSync(this.fd);
    }
    this.chunks.length = 0;
    this.pool.length = 0;
  }

  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.flush();
    if (this.failure) return Promise.reject(this.failure);
    if (this.queued + this.fill <= HIGH_WATER) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  send(message: Uint8Array): Promise<void> {
    try {
      if (this.write(message)) return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.drain();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.failure) {
      this.isClosed = true;
      return Promise.reject(this.failure);
    }
    this.closing = new Promise<void>((resolve, reject) => {
      if (this.fill !== 0) this.seal();
      this.openPacket(GOODBYE);
      this.seal();
      this.emptyWaiter = { resolve, reject };
      this.writeOut();
    }).then(
      () => {
        this.isClosed = true;
        this.release();
      },
      (err) => {
        this.isClosed = true;
        throw err;
      },
    );
    return this.closing;
  }
}
