import { ChannelError, FRAME_HEADER_BYTES, SenderBase, fromSystemError, writeFrameHeader } from "@ipc-sampler/core";
import type { PeerSlotLock } from "@ipc-sampler/posix";
import type { Dealer, Push } from "zeromq";
import {
  ACK_GRACE_MS,
  CHUNK,
  HEADER_BYTES,
  HEARTBEAT_MS,
  KIND_DATA,
  KIND_GOODBYE,
  KIND_HEARTBEAT,
  KIND_HELLO,
  SMALL_FLUSH,
  answered,
  helloMessage,
  writeHeader,
} from "./wire.js";

/**
 * One producer: coalesces messages into 1 MiB ZeroMQ messages, hands them to
 * libzmq one at a time, and on close waits for the receiver's answer to its
 * GOODBYE before hanging up (see wire.ts).
 */
export class ZeromqSender extends SenderBase {
  private readonly pid = process.pid;
  private seq = 0;
  private chunk = Buffer.allocUnsafeSlow(CHUNK);
  private pos = HEADER_BYTES;
  private count = 0;
  private flushScheduled = false;
  private queue: Buffer[] = [];
  private qHead = 0;
  private queuedBytes = 0;
  private pumping = false;
  private lastQueued = Date.now();
  private socketClosed = false;
  private ackFailed: ((e: unknown) => void) | undefined;
  private slotLock: PeerSlotLock | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly flushNow = () => {
    this.flushScheduled = false;
    this.flushChunk();
  };

  constructor(
    private readonly push: Push,
    /** Where the receiver answers this producer's GOODBYE (absent: a receiver without one). */
    private readonly ack: Dealer | undefined,
    private readonly session: number,
    private readonly endpoint: string,
    maxMessageSize: number,
    private readonly highWater: number,
    private readonly lingerMs: number,
  ) {
    super({ maxMessageSize, target: endpoint });
    const gone = () => {
      if (this.closed || this.failure) return;
      const error = new ChannelError("EPEERGONE", `cannot send to ${endpoint}: the receiver went away`, { resource: endpoint });
      // Until close() finishes (isClosed), its goodbye still waits for the answer.
      if (!this.closeStarted || !this.ack) return this.fail(error);
      // A receiver that read the goodbye may close at once: its answer is on
      // the way, and the disconnect events can overtake it. Give it a moment.
      const t = setTimeout(() => {
        if (!this.closed) this.fail(error);
      }, ACK_GRACE_MS);
      t.unref();
    };
    push.events.on("disconnect", gone);
    ack?.events.on("disconnect", gone);
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** First message on the connection: who this producer is, and the peer slot it holds (over ipc://), which it keeps until its socket closes. */
  hello(slotLock?: PeerSlotLock): void {
    this.slotLock = slotLock;
    this.enqueue(helloMessage(this.pid, this.session, slotLock?.slot), KIND_HELLO, 0);
  }

  private beat(): void {
    if (this.failure || this.closeStarted || this.pumping || this.pos > HEADER_BYTES) return;
    // Half the period, so an idle producer is heard from about every HEARTBEAT_MS whatever the timer's phase.
    if (Date.now() - this.lastQueued < HEARTBEAT_MS / 2 || !this.push.writable) return;
    this.enqueue(Buffer.allocUnsafe(HEADER_BYTES), KIND_HEARTBEAT, 0);
  }

  protected override onFailure(err: ChannelError): void {
    clearInterval(this.heartbeat);
    this.ackFailed?.(err);
    this.queue = [];
    this.qHead = 0;
    this.queuedBytes = 0;
    this.closeSocket(0);
  }

  private closeSocket(linger: number): void {
    if (this.socketClosed) return;
    this.socketClosed = true;
    clearInterval(this.heartbeat);
    try {
      this.push.linger = linger;
    } catch {
      // closing anyway
    }
    this.push.close();
    this.ack?.close();
    this.slotLock?.release();
  }

  write(message: Uint8Array): boolean {
    const len = message.length;
    this.admit(len);
    const need = FRAME_HEADER_BYTES + len;
    if (need > CHUNK - this.pos) {
      this.flushChunk();
      if (need > CHUNK - HEADER_BYTES) {
        // Too large for a chunk: a ZeroMQ message of its own.
        const big = Buffer.allocUnsafe(HEADER_BYTES + need);
        writeFrameHeader(big, HEADER_BYTES, len);
        big.set(message, HEADER_BYTES + FRAME_HEADER_BYTES);
        this.enqueue(big, KIND_DATA, 1);
        return this.queuedBytes <= this.highWater;
      }
    }
    const chunk = this.chunk;
    const pos = this.pos;
    chunk[pos] = len & 0xff;
    chunk[pos + 1] = (len >>> 8) & 0xff;
    chunk[pos + 2] = (len >>> 16) & 0xff;
    chunk[pos + 3] = (len >>> 24) & 0xff;
    chunk.set(message, pos + FRAME_HEADER_BYTES);
    this.pos = pos + need;
    this.count++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
    // The open chunk is bounded (CHUNK) and goes out on the next turn; only
    // batches libzmq has not taken yet count as pressure.
    return this.queuedBytes <= this.highWater;
  }

  private flushChunk(): void {
    if (this.count === 0 || this.failure) return;
    const used = this.pos;
    let out: Buffer;
    if (used <= SMALL_FLUSH) {
      // libzmq keeps a sent buffer until it is on the wire: copy a small
      // batch out and keep the chunk, rather than give away 256 KiB.
      out = Buffer.allocUnsafe(used);
      this.chunk.copy(out, 0, 0, used);
    } else {
      out = this.chunk.subarray(0, used);
      this.chunk = Buffer.allocUnsafeSlow(CHUNK);
    }
    const count = this.count;
    this.pos = HEADER_BYTES;
    this.count = 0;
    this.enqueue(out, KIND_DATA, count);
  }

  private enqueue(buf: Buffer, kind: number, count: number): void {
    writeHeader(buf, kind, this.pid, this.session, this.seq, count);
    this.seq = (this.seq + 1) >>> 0;
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    this.lastQueued = Date.now();
    if (!this.pumping) void this.pump();
  }

  /** Hands queued batches to libzmq, one at a time; send() waits while the socket is at its high-water mark. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.qHead < this.queue.length && !this.failure) {
        const buf = this.queue[this.qHead]!;
        await this.push.send(buf);
        if (this.failure) break;
        this.queue[this.qHead++] = undefined as never;
        this.queuedBytes -= buf.length;
        if (this.qHead > 256 && this.qHead * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.qHead);
          this.qHead = 0;
        }
        this.wake();
      }
      if (this.qHead >= this.queue.length) {
        this.queue = [];
        this.qHead = 0;
      }
    } catch (err) {
      // A send that fails on a connected PUSH socket means the connection is
      // gone (the disconnect event may not have arrived yet).
      const sys = fromSystemError(err, "send to", this.endpoint);
      this.fail(
        this.failure ??
          (sys.code === "ESYSCALL" || sys.code === "EPEERGONE"
            ? new ChannelError("EPEERGONE", `cannot send to ${this.endpoint}: the receiver went away (${sys.errno ?? sys.message})`, { errno: sys.errno, syscall: "zmq_msg_send", resource: this.endpoint, cause: err })
            : sys),
      );
    } finally {
      this.pumping = false;
    }
    this.wake();
  }

  protected override belowHighWater(): boolean {
    return this.queuedBytes <= this.highWater;
  }

  protected override flushPending(): void {
    this.flushChunk();
  }

  protected override release(): void {
    // libzmq still writes what it holds after close, for up to lingerMs (a failure closed it at once already).
    this.closeSocket(this.lingerMs);
  }

  protected async finish(): Promise<void> {
    this.flushChunk();
    this.enqueue(Buffer.allocUnsafe(HEADER_BYTES), KIND_GOODBYE, 0);
    await this.whenIdle(() => this.queuedBytes === 0 && !this.pumping);
    // Hold the connection open until the receiver has read the goodbye
    // (and so everything before it): see the note at the top.
    if (this.ack) await this.acknowledged(this.ack);
  }

  /** Resolves on the receiver's answer to GOODBYE; rejects when either connection drops first. */
  private acknowledged(ack: Dealer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.ackFailed = reject;
      answered(ack).then(
        () => resolve(),
        (err: unknown) => reject(this.failure ?? fromSystemError(err, "receive from", this.endpoint)),
      );
    });
  }
}

