import { writeSync, writevSync } from "node:fs";
import { Socket, type SocketConstructorOpts } from "node:net";
import { ChannelError, fromSystemError } from "./errors.js";
import { FRAME_HEADER_BYTES, GOODBYE, parseFrames, readFrameHeader, writeFrameHeader, type ParsedFrames } from "./framing.js";
import type { Address, Admission } from "./interface.js";
import { CoreReceiver, ReceiverCore } from "./receiver-core.js";
import { SenderBase } from "./sender-base.js";

/**
 * Framing over an already-open byte stream (a net.Socket wrapping a pipe,
 * FIFO, Unix or TCP socket). It opens nothing itself: transports hand it
 * the stream. Small messages are coalesced into large writes; many frames
 * are parsed per read and handed out as one batch.
 */

const CHUNK = 256 * 1024;
/** Reads into place (attachFd): arenas for what is not the rest of a large frame, and the smallest read offered. */
const ARENA_BYTES = 1024 * 1024;
const MIN_READ = 64 * 1024;
/** The rest of a frame is read straight into its buffer from this many bytes on. */
const DIRECT_READ_MIN = 64 * 1024;
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
      if (need > CHUNK) {
        // Larger than a chunk: straight from the caller's buffer to the
        // kernel while nothing waits before it; what the kernel does not
        // take now is copied (the caller may reuse its buffer at once) into
        // its own buffer, one write. Buffers are reused once written: fresh
        // memory costs a page fault per 4 KiB.
        const taken = this.writeDirect(message);
        if (taken === need) return true;
        const rest = need - taken;
        const big = this.takeBig(rest);
        if (taken < FRAME_HEADER_BYTES) writeFrameHeader(this.header, 0, len);
        const headPart = taken < FRAME_HEADER_BYTES ? this.header.copy(big, 0, taken, FRAME_HEADER_BYTES) : 0;
        big.set(taken > FRAME_HEADER_BYTES ? message.subarray(taken - FRAME_HEADER_BYTES) : message, headPart);
        this.socket.write(big.subarray(0, rest), () => this.returnBig(big));
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
    const fd = this.descriptor();
    if (fd < 0) return;
    let n: number;
    try {
      n = writeSync(fd, this.chunk, 0, this.pos);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") return;
      this.fail(fromSystemError(err, "send to", this.target));
      throw this.failure;
    }
    if (n === this.pos) this.pos = 0;
    else if (n > 0) this.flushChunk(n);
  }

  /** The socket's descriptor when a write(2) on it may go before the socket's own queue (it is empty), else -1. */
  private descriptor(): number {
    const fd = (this.socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
    if (fd === undefined || fd < 0 || this.socket.writableLength !== 0 || this.socket.connecting) return -1;
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

  private takeBig(need: number): Buffer {
    for (let i = this.bigPool.length - 1; i >= 0; i--) {
      const b = this.bigPool[i]!;
      if (b.length >= need) {
        this.bigPool.splice(i, 1);
        return b;
      }
    }
    return Buffer.allocUnsafeSlow(need);
  }

  private returnBig(buf: Buffer): void {
    if (this.bigPool.length < 8) this.bigPool.push(buf);
  }

  /** Hands the chunk from byte `from` on to the socket, and starts a fresh one. */
  private flushChunk(from = 0): void {
    if (this.pos === 0 || this.failure) return;
    const full = this.chunk;
    const used = this.pos;
    this.chunk = this.pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
    this.pos = 0;
    this.socket.write(full.subarray(from, used), () => this.recycle(full));
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
 * Receives framed messages from any number of byte streams, one per
 * producer. Used by every stream transport's Receiver.
 */
export class StreamReceiver extends CoreReceiver {
  readonly core: ReceiverCore;
  private readonly sockets = new Set<Socket>();
  private paused = false;

  constructor(
    readonly address: Address,
    options: {
      expectedProducers?: number | undefined;
      onPeerLost?: ((e: ChannelError) => void) | undefined;
      admit: () => Promise<Admission>;
      cleanup: () => Promise<void> | void;
      describe: (producer: number) => string;
    },
  ) {
    super();
    this.admitImpl = options.admit;
    this.describe = options.describe;
    this.core = new ReceiverCore({
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      onPressure: (high) => this.setPaused(high),
      close: async () => {
        for (const s of this.sockets) s.destroy();
        this.sockets.clear();
        await options.cleanup();
      },
    });
  }

  private readonly admitImpl: () => Promise<Admission>;
  private readonly describe: (producer: number) => string;

  admit(): Promise<Admission> {
    return this.admitImpl();
  }

  private setPaused(high: boolean): void {
    if (high === this.paused) return;
    this.paused = high;
    for (const s of this.sockets) {
      if (high) s.pause();
      else s.resume();
    }
  }

  /** Starts reading one producer's stream. */
  attach(socket: Socket): number {
    const reader = this.reader(false);
    socket.on("data", (chunk: Buffer) => reader.chunk(chunk));
    return reader.watch(socket);
  }

  /**
   * Starts reading one producer's descriptor (a pipe's read end) with reads
   * that land in place (net.Socket's `onread`): the rest of a large frame is
   * read straight into the message's own buffer, as much as the kernel has
   * per read(2), everything else into slices of a shared arena that batches
   * hand out as they are. No read is copied again in user space, except the
   * start of a frame that a read cut off (at most one read's tail).
   */
  attachFd(fd: number): number {
    return this.readWith(this.reader(false), fd, false).producer;
  }

  /**
   * Starts reading one producer's connected Unix or TCP socket `fd`, which
   * this process reads no other way (a socket a net.Server accepted is handed
   * over as a duplicate of its descriptor, the original closed: one reader
   * per socket). Every read lands in one buffer of this producer's, reused:
   * memory the kernel has not just handed out, so read(2) takes no page
   * faults and frees the sender's socket buffer at once. What a read carries
   * is then copied out, once: whole frames of a read into one buffer per
   * batch, the pieces of a large frame into the frame's own buffer (as the
   * chunks of a stream socket are, without a fresh 64 KiB allocation and a
   * stream event per read). The returned net.Socket owns `fd` and writes too
   * (a duplex link answers over it).
   */
  attachSocketFd(fd: number): Socket {
    return this.readWith(this.reader(true), fd, true).socket;
  }

  private readWith(reader: ReturnType<StreamReceiver["reader"]>, fd: number, writable: boolean): { producer: number; socket: Socket } {
    // onread is a net.Socket constructor option since Node 12 (typed here only for net.connect).
    const options = { fd, readable: true, writable, onread: { buffer: reader.target, callback: reader.landed } };
    const socket = new Socket(options as SocketConstructorOpts);
    return { producer: reader.watch(socket), socket };
  }

  /**
   * One producer's frame parser: the state of a partial frame, fed by chunks
   * or by reads into place; `reused`: every read lands in one buffer that
   * the next read overwrites (attachSocketFd).
   */
  private reader(reused: boolean) {
    const producer = this.core.attach();
    const max = this.address.maxMessageSize;
    let socket: Socket | undefined;
    let carry: Buffer | undefined; // a partial frame, header included
    let carryFill = 0;
    let goodbye = false;
    let finished = false;
    const parsed: ParsedFrames = { count: 0, consumed: 0, goodbye: false, oversized: 0 };
    const offsets = new Int32Array(2048);
    const what = this.describe(producer);
    let arena = Buffer.allocUnsafeSlow(reused ? REUSED_READ_BYTES : ARENA_BYTES);
    let arenaAt = 0;
    let intoCarry = false;

    const finish = (err?: ChannelError) => {
      if (finished) return;
      finished = true;
      if (socket) {
        this.sockets.delete(socket);
        socket.destroy();
      }
      if (goodbye && !err) this.core.producerClosed(producer);
      else {
        const partial = carry ? ` (a partial ${carryFill}-byte frame was discarded)` : "";
        this.core.producerLost(
          producer,
          err ?? new ChannelError("EPEERGONE", `${what} went away without closing${partial}`, { producer }),
        );
      }
    };

    const complete = () => {
      const one = new Int32Array(2);
      one[0] = FRAME_HEADER_BYTES;
      one[1] = carry!.length - FRAME_HEADER_BYTES;
      this.core.push({ count: 1, data: carry!, offsets: one, producer });
      carry = undefined;
      carryFill = 0;
    };

    const chunk = (chunk: Buffer) => {
      if (finished) return;
      if (goodbye) return finish(new ChannelError("EPROTO", `${what} sent bytes after its goodbye`, { producer }));
      let start = 0;
      if (carry) {
        if (carryFill < FRAME_HEADER_BYTES) {
          const take = Math.min(FRAME_HEADER_BYTES - carryFill, chunk.length);
          chunk.copy(carry, carryFill, 0, take);
          carryFill += take;
          start = take;
          if (carryFill < FRAME_HEADER_BYTES) return;
          const len = readFrameHeader(carry, 0);
          if (len === GOODBYE) {
            carry = undefined;
            goodbye = true;
            if (start < chunk.length) finish(new ChannelError("EPROTO", `${what} sent bytes after its goodbye`, { producer }));
            return;
          }
          if (len > max) return finish(new ChannelError("EPROTO", `${what} sent a frame of ${len} bytes, over the ${max}-byte limit`, { producer }));
          const grown = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
          carry.copy(grown, 0, 0, FRAME_HEADER_BYTES);
          carry = grown;
        }
        const take = Math.min(carry.length - carryFill, chunk.length - start);
        chunk.copy(carry, carryFill, start, start + take);
        carryFill += take;
        start += take;
        if (carryFill < carry.length) return;
        complete();
      }
      while (start < chunk.length) {
        parseFrames(chunk, start, chunk.length, max, offsets, parsed);
        // Parse into one scratch array; each batch keeps an exact-size copy
        // (a read of one small message no longer costs an 8 KiB allocation).
        if (parsed.count > 0) {
          const batch = offsets.slice(0, 2 * parsed.count);
          this.core.push({ count: parsed.count, data: reused ? copyOut(chunk, batch) : chunk, offsets: batch, producer });
        }
        if (parsed.oversized) return finish(new ChannelError("EPROTO", `${what} sent a frame of ${parsed.oversized} bytes, over the ${max}-byte limit`, { producer }));
        start = parsed.consumed;
        if (parsed.goodbye) {
          goodbye = true;
          if (start < chunk.length) return finish(new ChannelError("EPROTO", `${what} sent bytes after its goodbye`, { producer }));
          return;
        }
        if (parsed.count === 0 || parsed.count < offsets.length >>> 1) break;
      }
      if (start < chunk.length) {
        // Keep the partial frame; size the buffer once its header is known.
        const rest = chunk.length - start;
        if (rest >= FRAME_HEADER_BYTES) {
          const len = readFrameHeader(chunk, start);
          if (len !== GOODBYE && len > max) return finish(new ChannelError("EPROTO", `${what} sent a frame of ${len} bytes, over the ${max}-byte limit`, { producer }));
          carry = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
        } else {
          carry = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
        }
        chunk.copy(carry, 0, start);
        carryFill = rest;
      }
    };

    /** Where the next read lands: the reused buffer; else the rest of a large frame in its own buffer, else the arena. */
    const target = (): Buffer => {
      if (reused) return arena;
      if (carry && carryFill >= FRAME_HEADER_BYTES && carry.length - carryFill >= DIRECT_READ_MIN) {
        intoCarry = true;
        return carry.subarray(carryFill);
      }
      intoCarry = false;
      if (ARENA_BYTES - arenaAt < MIN_READ) {
        arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
        arenaAt = 0;
      }
      return arena.subarray(arenaAt);
    };

    /** A read of `n` bytes landed in the buffer `target()` gave. */
    const landed = (n: number, buf: Buffer): void => {
      if (finished) return;
      if (intoCarry) {
        carryFill += n;
        if (carryFill === carry!.length) complete();
        return;
      }
      if (!reused) arenaAt = (arenaAt + n + 7) & ~7;
      chunk(buf.subarray(0, n));
    };

    const watch = (s: Socket): number => {
      socket = s;
      this.sockets.add(s);
      s.on("end", () => finish());
      s.on("close", () => finish());
      s.on("error", (err) => finish(fromSystemError(err, "receive from", what)));
      if (this.paused) s.pause();
      return producer;
    };

    return { chunk, target, landed, watch };
  }
}

/** Bytes one read into a reused buffer may bring: what a Unix socket holds at the default SO_SNDBUF, with room. */
const REUSED_READ_BYTES = 256 * 1024;

/**
 * The frames `offsets` points at in a buffer the next read overwrites, copied
 * to a buffer of their own (one per batch: the span from the first message
 * to the end of the last, headers between included); `offsets` is rebased to
 * it in place.
 */
function copyOut(from: Buffer, offsets: Int32Array): Buffer {
  const first = offsets[0]!;
  const last = offsets.length - 2;
  const end = offsets[last]! + offsets[last + 1]!;
  const data = Buffer.allocUnsafe(end - first);
  from.copy(data, 0, first, end);
  for (let i = 0; i < offsets.length; i += 2) offsets[i]! -= first;
  return data;
}
