import { Socket, type SocketConstructorOpts } from "node:net";
import { BatchBuffers, POOLED_MIN_BYTES, type Lease, type PooledBatch } from "./batch-buffers.js";
import { ChannelError, fromSystemError } from "./errors.js";
import { FRAME_HEADER_BYTES, GOODBYE, parseFrames, readFrameHeader, type ParsedFrames } from "./framing.js";
import type { Address, Admission } from "./interface.js";
import { CoreReceiver, ReceiverCore, type Spinner } from "./receiver-core.js";

/** Reads into place (attachFd): arenas for what is not the rest of a large frame, and the smallest read offered. */
const ARENA_BYTES = 1024 * 1024;
const MIN_READ = 64 * 1024;
/** The rest of a frame is read straight into its buffer from this many bytes on. */
const DIRECT_READ_MIN = 64 * 1024;

/**
 * Reading while a caller waits (StreamReceiver's `spin` option): a
 * non-blocking read(2) of a descriptor, bytes read, 0 at its end, -1 when
 * nothing is there, and the spinner that bounds how long to try.
 */
export interface SpinRead {
  tryRead(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  spinner: Spinner;
}

/** A descriptor read in place, which a waiting caller's spin reads too. */
interface FdReader {
  fd: number;
  reader: ReturnType<StreamReceiver["reader"]>;
}

/**
 * Receives framed messages from any number of byte streams, one per
 * producer. Used by every stream transport's Receiver.
 */
export class StreamReceiver extends CoreReceiver {
  readonly core: ReceiverCore;
  private readonly sockets = new Set<Socket>();
  private paused = false;
  /** Descriptors read in place (attachFd, attachSocketFd), which a waiting caller's spin reads too. */
  private readonly fdReaders = new Set<FdReader>();
  private readonly spinRead: SpinRead | undefined;
  /** Where spin reads land (never the event loop's read buffer, which a spin must not move). */
  private spinBuffer: Buffer | undefined;
  /** Large frames' and copied-out reads' buffers, reused once their batch is released (reuseBatches). */
  private readonly buffers: BatchBuffers | undefined;

  constructor(
    readonly address: Address,
    options: {
      expectedProducers?: number | undefined;
      onPeerLost?: ((e: ChannelError) => void) | undefined;
      admit: () => Promise<Admission>;
      cleanup: () => Promise<void> | void;
      describe: (producer: number) => string;
      /**
       * Bounded busy-reading: when a caller waits and nothing is queued, the
       * descriptors read in place are read synchronously until something
       * lands or the spinner gives up, so a reply that comes within the
       * window skips the sleep and wake-up of the event loop.
       */
      spin?: SpinRead | undefined;
      /** ListenOptions.reuseBatches: a large frame's or a copied-out read's buffer is reused once `batches()` moves past its batch. */
      reuseBatches?: boolean | undefined;
    },
  ) {
    super();
    this.buffers = options.reuseBatches ? new BatchBuffers() : undefined;
    this.admitImpl = options.admit;
    this.spinRead = options.spin;
    this.describe = options.describe;
    this.core = new ReceiverCore({
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      onPressure: (high) => this.setPaused(high),
      ...(options.spin ? { spin: () => this.spin() } : {}),
      ...(this.buffers ? { release: this.buffers.release } : {}),
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
    const entry: FdReader = { fd, reader };
    const spinner = this.spinRead?.spinner;
    const landed = spinner
      ? (n: number, buf: Buffer): void => {
          spinner.woke();
          reader.landed(n, buf);
        }
      : reader.landed;
    // onread is a net.Socket constructor option since Node 12 (typed here only for net.connect).
    const options = { fd, readable: true, writable, onread: { buffer: reader.target, callback: landed } };
    const socket = new Socket(options as SocketConstructorOpts);
    this.fdReaders.add(entry);
    socket.once("close", () => this.fdReaders.delete(entry));
    return { producer: reader.watch(socket), socket };
  }

  /**
   * A caller waits on an empty queue: read the descriptors now, within the
   * spinner's window. The event loop's read of the same descriptor then finds
   * nothing (EAGAIN), so every byte is read once, in order. An end of file
   * or an error stops the spin and is left to the event loop to report.
   */
  private spin(): void {
    if (this.paused || this.fdReaders.size === 0) return;
    this.spinStop = false;
    this.spinRead!.spinner.spin(this.spinReady);
  }

  private spinStop = false;
  /** One look of the spin: every descriptor read once; true when the caller has its batch (or a descriptor ended). */
  private readonly spinReady = (): boolean => {
    const tryRead = this.spinRead!.tryRead;
    const buf = (this.spinBuffer ??= Buffer.allocUnsafeSlow(REUSED_READ_BYTES));
    for (const r of this.fdReaders) {
      // The event loop's next read lands in the rest of a large frame: leave that descriptor to it.
      if (!r.reader.spinnable()) continue;
      let n: number;
      try {
        n = tryRead(r.fd, buf, 0, buf.length);
      } catch {
        n = 0;
      }
      if (n > 0) r.reader.chunk(buf.subarray(0, n), true);
      else if (n === 0) this.spinStop = true;
    }
    return this.spinStop || !this.core.waiting;
  };

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
    let carryLease: Lease | undefined; // the pooled buffer carry is a view of
    const buffers = this.buffers;
    /** A buffer for a frame of `bytes`, header included: pooled when large and reuse is on. */
    const frameBuffer = (bytes: number): Buffer => {
      if (!buffers || bytes < POOLED_MIN_BYTES) {
        carryLease = undefined;
        return Buffer.allocUnsafe(bytes);
      }
      carryLease = buffers.lease(bytes);
      return carryLease.buffer.subarray(0, bytes);
    };
    /** Pushes the frames `batch` points at in `data`; `lease`: the pooled buffer `data` is in, held once more by the batch. */
    const pushBatch = (data: Buffer, batch: Int32Array, lease: Lease | undefined): void => {
      if (lease) lease.holders++;
      const b: PooledBatch = { count: batch.length >>> 1, data, offsets: batch, producer, lease };
      this.core.push(b);
    };
    /** Frames a read carried, copied out of a buffer the next read overwrites (one buffer per batch), and pushed. */
    const copyOut = (from: Buffer, batch: Int32Array): void => {
      const first = batch[0]!;
      const last = batch.length - 2;
      const bytes = batch[last]! + batch[last + 1]! - first;
      const lease = buffers && bytes >= POOLED_MIN_BYTES ? buffers.lease(bytes) : undefined;
      const data = lease ? lease.buffer : Buffer.allocUnsafe(bytes);
      from.copy(data, 0, first, first + bytes);
      for (let i = 0; i < batch.length; i += 2) batch[i]! -= first;
      pushBatch(data, batch, lease);
      if (lease) buffers!.drop(lease); // the batch is its only holder
    };
    let goodbye = false;
    let finished = false;
    const parsed: ParsedFrames = { count: 0, consumed: 0, goodbye: false, oversized: 0 };
    const offsets = new Int32Array(2048);
    const what = this.describe(producer);
    // attachFd's arena, leased when reuse is on: the reader holds it while it reads into it, each batch from it too.
    let arenaLease = !reused && buffers ? buffers.lease(ARENA_BYTES) : undefined;
    let arena = arenaLease ? arenaLease.buffer : Buffer.allocUnsafeSlow(reused ? REUSED_READ_BYTES : ARENA_BYTES);
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
      const batch: PooledBatch = { count: 1, data: carry!, offsets: one, producer, lease: carryLease };
      this.core.push(batch);
      carry = undefined;
      carryLease = undefined;
      carryFill = 0;
    };

    /**
     * Bytes read; `copy`: they sit in a buffer the next read overwrites, so
     * batches take a copy; `lease`: they sit in this pooled buffer (the arena).
     */
    const chunk = (chunk: Buffer, copy = reused, lease?: Lease) => {
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
          const grown = frameBuffer(FRAME_HEADER_BYTES + len);
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
          if (copy) copyOut(chunk, batch);
          else pushBatch(chunk, batch, lease);
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
          carry = len === GOODBYE ? Buffer.allocUnsafe(FRAME_HEADER_BYTES) : frameBuffer(FRAME_HEADER_BYTES + len);
        } else {
          carryLease = undefined;
          carry = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
        }
        chunk.copy(carry, 0, start);
        carryFill = rest;
      }
    };

    /** Where the next read lands: the reused buffer; else the rest of a large frame in its own buffer, else the arena. */
    const target = (): Buffer => {
      if (carry && carryFill >= FRAME_HEADER_BYTES && carry.length - carryFill >= DIRECT_READ_MIN) {
        intoCarry = true;
        return carry.subarray(carryFill);
      }
      intoCarry = false;
      if (reused) return arena;
      if (ARENA_BYTES - arenaAt < MIN_READ) {
        if (arenaLease) {
          buffers!.drop(arenaLease);
          arenaLease = buffers!.lease(ARENA_BYTES);
        }
        arena = arenaLease ? arenaLease.buffer : Buffer.allocUnsafeSlow(ARENA_BYTES);
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
      chunk(buf.subarray(0, n), reused, arenaLease);
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

    /** A spin may read now: the event loop's pending read does not land in the rest of a large frame. */
    const spinnable = () => !intoCarry && !finished;

    return { chunk, target, landed, watch, spinnable };
  }
}

/** Bytes one read into a reused buffer may bring: what a Unix socket holds at the default SO_SNDBUF, with room. */
const REUSED_READ_BYTES = 256 * 1024;
