import { writeSync, writevSync } from "node:fs";
import type { Socket } from "node:net";
import { ChannelError, fromSystemError } from "./errors.js";
import { FRAME_HEADER_BYTES, GOODBYE, writeFrameHeader } from "./framing.js";
import { SenderBase } from "./sender-base.js";

/**
 * Framing over an already-open byte stream (a net.Socket wrapping a pipe,
 * FIFO, Unix or TCP socket). It opens nothing itself: transports hand it
 * the stream. Small messages are coalesced into large writes; many frames
 * are parsed per read and handed out as one batch.
 */

const CHUNK = 256 * 1024;
const HIGH_WATER = 1024 * 1024;
const MAX_POOLED = 32;

export interface StreamSenderOptions {
  maxMessageSize: number;
  /** Name for messages, e.g. "pipe fd 3" or "/tmp/ipcs-x.sock". */
  resource: string;
  /** Bytes queued in the kernel-bound write queue before write() returns false. */
  highWaterMark?: number;
}

export class StreamSender extends SenderBase {
  private chunk: Buffer;
  private pos = 0;
  private flushScheduled = false;
  private readonly pool: Buffer[] = [];
  private highWater: number;
  private readonly flushNow = () => {
    this.flushScheduled = false;
    this.flushChunk();
  };
  private readonly recycle: (buf: Buffer) => void;

  constructor(private readonly socket: Socket, options: StreamSenderOptions) {
    super({ maxMessageSize: options.maxMessageSize, target: options.resource });
    this.highWater = options.highWaterMark ?? HIGH_WATER;
    this.chunk = Buffer.allocUnsafeSlow(CHUNK);
    this.recycle = (buf) => {
      if (buf.length === CHUNK && this.pool.length < MAX_POOLED) this.pool.push(buf);
    };
    socket.on("error", (err) => this.fail(fromSystemError(err, "send to", options.resource)));
    socket.on("close", () => {
      if (!this.closed && !this.closeStarted) this.fail(new ChannelError("EPEERGONE", `cannot send to ${options.resource}: the receiver went away`, { resource: options.resource }));
    });
    socket.on("drain", () => this.wake());
  }

  protected override onFailure(): void {
    this.socket.destroy();
  }

  protected override belowHighWater(): boolean {
    return this.socket.writableLength <= this.highWater;
  }

  protected override flushPending(): void {
    this.flushChunk();
  }

  write(message: Uint8Array): boolean {
    const len = message.length;
    this.admit(len);
    const need = FRAME_HEADER_BYTES + len;
    // Keep several of the largest messages in flight, so the receiver has the
    // next one while this process prepares the one after.
    if (need * 4 > this.highWater) this.highWater = need * 4;
    if (need > CHUNK - this.pos) {
      this.flushChunk();
      // The flush's write(2) can be the one that finds the peer gone (TCP
      // accepts a write after the peer closed, then resets): the chunk was
      // not emptied, so this message must not be appended to it.
      if (this.failure) throw this.failure;
      if (need > CHUNK) {
        // Larger than a chunk: straight from the caller's buffer to the
        // kernel while nothing waits before it; what the kernel does not
        // take now is copied (the caller may reuse its buffer at once) into
        // its own buffer, one write. Buffers are reused once written: fresh
        // memory costs a page fault per 4 KiB.
        const taken = this.writeDirect(message);
        if (taken === need) return true;
        const rest = need - taken;
        const big = this.takeBig(rest, need);
        if (taken < FRAME_HEADER_BYTES) writeFrameHeader(this.header, 0, len);
        const headPart = taken < FRAME_HEADER_BYTES ? this.header.copy(big, 0, taken, FRAME_HEADER_BYTES) : 0;
        big.set(taken > FRAME_HEADER_BYTES ? message.subarray(taken - FRAME_HEADER_BYTES) : message, headPart);
        this.writeThenReuse(big, rest, this.returnBig);
        return this.socket.writableLength <= this.highWater;
      }
    }
    writeFrameHeader(this.chunk, this.pos, len);
    this.chunk.set(message, this.pos + FRAME_HEADER_BYTES);
    this.pos += need;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      if (this.socket.writableLength === 0) {
        // Idle stream: the first message of a run goes to the kernel now (a
        // lone message, a reply, waits for nothing); the messages written
        // after it in the same run join one write at its end.
        this.writeNow();
        queueMicrotask(this.flushNow);
      } else {
        // Busy stream: wait a loop turn so more messages join the next write.
        setImmediate(this.flushNow);
      }
    }
    return this.socket.writableLength + this.pos <= this.highWater;
  }

  /**
   * write(2) of the chunk on the socket's descriptor, while nothing is
   * queued before it: a fraction of what net.Socket's write path costs per
   * call. What the kernel did not take goes through the socket as before.
   */
  private writeNow(): void {
    const n = this.writeChunk();
    if (this.failure) throw this.failure;
    if (n === this.pos) this.pos = 0;
    else if (n > 0) this.flushChunk(n);
  }

  /**
   * write(2) of the chunk's bytes on the socket's descriptor when nothing is
   * queued before them: how many the kernel took, 0 when none (EAGAIN, or no
   * descriptor to write on now). Any other error fails the sender.
   */
  private writeChunk(): number {
    const fd = this.descriptor();
    if (fd < 0) return 0;
    try {
      return writeSync(fd, this.chunk, 0, this.pos);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") this.fail(fromSystemError(err, "send to", this.target));
      return 0;
    }
  }

  /** The socket's descriptor when a write(2) on it may go before the socket's own queue (it is empty), else -1. */
  private descriptor(): number {
    const fd = socketFd(this.socket);
    if (fd < 0 || this.socket.writableLength !== 0 || this.socket.connecting) return -1;
    return fd;
  }

  private readonly bigPool: Buffer[] = [];
  /** A large message's frame header, written beside it with writev(2). */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private readonly headerAndMessage: Uint8Array[] = [this.header, this.header];

  /**
   * writev(2) of a frame (header, then the caller's bytes) on the socket's
   * descriptor when nothing is queued before it, so the kernel copies the
   * message from where the caller keeps it; returns how many bytes of the
   * frame it took (0: queued writes come first, no descriptor, or the
   * kernel's buffer is full: EAGAIN, the descriptor being non-blocking). A
   * descriptor the peer closed fails the sender now.
   */
  private writeDirect(message: Uint8Array): number {
    const fd = this.descriptor();
    if (fd < 0) return 0;
    writeFrameHeader(this.header, 0, message.length);
    this.headerAndMessage[1] = message;
    try {
      return writevSync(fd, this.headerAndMessage);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") return 0;
      this.fail(fromSystemError(err, "send to", this.target));
      throw this.failure;
    } finally {
      this.headerAndMessage[1] = this.header;
    }
  }

  /**
   * A buffer for `rest` bytes of a frame of `frame` bytes. A new one is sized
   * for the whole frame, rounded up to a power of two: the next message's rest
   * is another size, and a buffer cut to this one's would not hold it (its
   * untouched tail costs address space, not memory).
   */
  private takeBig(rest: number, frame: number): Buffer {
    for (let i = this.bigPool.length - 1; i >= 0; i--) {
      const b = this.bigPool[i]!;
      if (b.length >= rest) {
        this.bigPool.splice(i, 1);
        return b;
      }
    }
    return Buffer.allocUnsafeSlow(2 ** Math.ceil(Math.log2(frame)));
  }

  private readonly returnBig = (buf: Buffer): void => {
    if (this.bigPool.length < 8) this.bigPool.push(buf);
  };

  /**
   * socket.write of `buf`'s bytes `from`..`end`, then `reuse(buf)` once the
   * socket is done with them. A write the kernel took whole at once leaves
   * nothing queued: the buffer is free now. Its callback would wait for the
   * next tick, and a producer writing in a loop yields only when write()
   * returns false: dozens of buffers, each fresh memory, before one came
   * back. Either way `reuse` runs once.
   */
  private writeThenReuse(buf: Buffer, end: number, reuse: (buf: Buffer) => void, from = 0): void {
    let done = false;
    const give = () => {
      if (done) return;
      done = true;
      reuse(buf);
    };
    this.socket.write(buf.subarray(from, end), give);
    if (this.socket.writableLength === 0) give();
  }

  /** Hands the chunk from byte `from` on to the socket, and starts a fresh one. */
  private flushChunk(from = 0): void {
    if (this.pos === 0 || this.failure) return;
    if (from === 0) {
      // Nothing queued before it: write(2) now, and a chunk the kernel took
      // whole is reused at once. Through socket.write its recycling waits
      // for a callback that a producer writing in a loop, never blocked by a
      // roomy kernel buffer (TCP), lets run only at its end: a fresh chunk,
      // and its page faults, every 256 KiB.
      from = this.writeChunk();
      if (this.failure) return;
      if (from === this.pos) {
        this.pos = 0;
        return;
      }
    }
    const full = this.chunk;
    const used = this.pos;
    this.chunk = this.pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
    this.pos = 0;
    this.writeThenReuse(full, used, this.recycle, from);
  }

  protected finish(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.flushChunk();
      const bye = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(bye, 0, GOODBYE);
      // end()'s callback also reports a failed last write (EPIPE: the receiver
      // is gone): close() must not resolve over bytes that never arrived.
      this.socket.end(bye, (err?: Error | null) => {
        if (err || this.failure) reject(this.failure ?? fromSystemError(err, "send to", this.resource));
        else resolve();
      });
      this.nextWake().then(() => {}, reject);
      this.socket.once("error", reject);
    });
  }
}

/**
 * The descriptor under a net.Socket (its libuv handle's), or -1 when it has
 * none (closed, or not yet connected). Node does not document it; every
 * descriptor-level call on a socket (write(2) before its queue, SO_PEERCRED,
 * SO_SNDBUF, the hand-over of an accepted connection) goes through here.
 */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : -1;
}

export { StreamReceiver, type SpinRead } from "./stream-receiver.js";
export type { Spinner } from "./receiver-core.js";
