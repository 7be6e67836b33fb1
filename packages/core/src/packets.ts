import { ChannelError } from "./errors.js";
import { readFrameHeader as readU32, writeFrameHeader as writeU32 } from "./framing.js";
import type { Address, Admission, Sender } from "./interface.js";
import { CoreReceiver, ReceiverCore } from "./receiver-core.js";
import { messageTooLarge, senderClosed, writeOrDrain } from "./send.js";

/**
 * Packets: how many producers share one kernel object that keeps each write
 * or message whole (a FIFO's writes of at most PIPE_BUF bytes, a POSIX
 * message queue's messages). Every write is one packet:
 *
 *   0  u32  producer pid
 *   4  u16  stream: the sender's number within its process
 *   6  u16  header word: the kind, and on a byte stream the body length
 *   8  …    body
 *
 * The header word is either the kind in byte 6 and 0 in byte 7 (a message
 * queue, whose messages keep their length), or `kind << 12 | body length`
 * (a FIFO, where packets follow each other in one byte stream).
 *
 * Kinds: HELLO (empty body: a producer attaches), FRAMES (whole messages,
 * each a u32 length then the bytes), FRAGMENT_FIRST (u32 total length, then
 * the first bytes of a message too large for one packet), FRAGMENT_MORE (the
 * next bytes), GOODBYE (the producer closed cleanly). All little-endian.
 *
 * `PacketSender` is the producing end, `PacketReader` the receiver's producer
 * registry and reassembly, `PacketReceiver` a Receiver around it. All leave
 * the kernel object to the transport: no I/O happens here.
 */
export const PACKET_HEADER_BYTES = 8;
export const PACKET_HELLO = 1;
export const PACKET_FRAMES = 2;
export const PACKET_FRAGMENT_FIRST = 3;
export const PACKET_FRAGMENT_MORE = 4;
export const PACKET_GOODBYE = 5;
/** Largest body a `kind << 12 | length` header word can state. */
export const PACKET_MAX_STATED_BODY = 0xfff;

const FRAME_BYTES = 4;

/** The producer's identity on the wire: its pid and stream, as one number. */
export function packetProducerKey(buf: Uint8Array, at: number): number {
  return readU32(buf, at) * 65536 + (buf[at + 4]! | (buf[at + 5]! << 8));
}

// ---- producing end -----------------------------------------------------------

export interface PacketSenderOptions {
  /** Largest packet, header included: PIPE_BUF for a FIFO, mq_msgsize for a queue. */
  packetBytes: number;
  /** Packets per chunk; the transport gets at most one chunk per `sendPackets` call. */
  packetsPerChunk: number;
  /** `write()` returns false above this many bytes waiting to be sent. */
  highWaterMark: number;
  /** Written chunks kept for reuse. */
  maxPooledChunks: number;
  /** Put the body length in the header word (a byte stream) instead of 0 (a message queue). */
  lengthInHeader: boolean;
  maxMessageSize: number;
  /** Names the channel in error messages: "/tmp/x.fifo", "message queue /x". */
  describe: string;
  /** The kernel object's name, for ChannelError's `resource`. */
  resource: string;
}

interface Chunk {
  readonly buf: Buffer;
  /** (start, length) of each sealed packet. */
  readonly pairs: Int32Array;
  sealed: number;
  sent: number;
}

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

let streams = 0;

/**
 * The producing end of a packet channel. Messages are copied into packets
 * (many small messages per packet, a large message split over several), and
 * packets are handed to the transport at the next turn of the event loop, or
 * as soon as a chunk fills: no allocation and no promise per message.
 *
 * A transport extends it with the kernel object: `sendPackets` (one write(2)
 * or mq_send(3) per packet, stopping when the object is full), `startWaiting`
 * / `stopWaiting` (watch for room; call `resume()` when there is some), and
 * `releaseResources`. Its constructor ends with `hello()`.
 */
export abstract class PacketSender implements Sender {
  readonly maxMessageSize: number;
  private readonly pid = process.pid;
  private readonly stream = streams++ & 0xffff;
  private readonly slot: number;
  private readonly slots: number;
  private readonly bodyMax: number;
  private readonly highWater: number;
  private readonly maxPooled: number;
  private readonly lengthInHeader: boolean;
  private readonly describe: string;
  /** The kernel object's name. */
  readonly resource: string;
  private readonly chunks: Chunk[] = [];
  private readonly pool: Chunk[] = [];
  /** Bytes in the open packet (header included); 0: no open packet. */
  private fill = 0;
  /** Bytes in sealed packets not yet sent. */
  private queued = 0;
  private scheduled = false;
  private waiting = false;
  private released = false;
  /** Why this sender failed; set once. */
  protected failure: ChannelError | undefined;
  private closing: Promise<void> | undefined;
  private isClosed = false;
  private drainWaiters: Waiter[] = [];
  private emptyWaiter: Waiter | undefined;
  private readonly flushSoon = () => {
    this.scheduled = false;
    this.flush();
  };

  protected constructor(options: PacketSenderOptions) {
    this.maxMessageSize = options.maxMessageSize;
    this.slot = options.packetBytes;
    this.slots = options.packetsPerChunk;
    this.bodyMax = options.packetBytes - PACKET_HEADER_BYTES;
    this.highWater = options.highWaterMark;
    this.maxPooled = options.maxPooledChunks;
    this.lengthInHeader = options.lengthInHeader;
    this.describe = options.describe;
    this.resource = options.resource;
  }

  /**
   * Sends up to `count` packets, described by (start, length) pairs from
   * pair `from` of `pairs`, one kernel write each. Returns how many went: fewer
   * when the kernel object is full. Throws a ChannelError.
   */
  protected abstract sendPackets(buf: Buffer, pairs: Int32Array, from: number, count: number): number;
  /** The kernel object is full: watch for room and call `resume()` then. */
  protected abstract startWaiting(): void;
  /** Everything was sent after a wait: stop watching. */
  protected abstract stopWaiting(): void;
  /** Closes the kernel object's descriptor and watchers (once, after close() or a failure). */
  protected abstract releaseResources(): void;
  /**
   * After close() handed everything to the kernel object and before it is
   * released: an error when what was sent can no longer reach a receiver
   * (a kernel object that outlives its reader, such as a message queue).
   */
  protected undeliverable(): ChannelError | undefined {
    return undefined;
  }

  /** Sends the HELLO packet that attaches this producer; the subclass's constructor ends with it. */
  protected hello(): void {
    this.openPacket(PACKET_HELLO);
    this.seal();
    this.resume();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.isClosed || this.closing) throw senderClosed(this.describe, this.resource);
  }

  write(message: Uint8Array): boolean {
    this.check();
    const len = message.length;
    if (len > this.maxMessageSize) {
      throw messageTooLarge(len, this.maxMessageSize, this.describe, this.resource);
    }
    const frame = FRAME_BYTES + len;
    if (frame <= this.bodyMax) {
      if (this.fill !== 0 && this.fill + frame > this.slot) this.seal();
      if (this.fill === 0) this.openPacket(PACKET_FRAMES);
      const chunk = this.chunks[this.chunks.length - 1]!;
      const at = chunk.sealed * this.slot + this.fill;
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
    return this.queued + this.fill <= this.highWater;
  }

  private fragment(message: Uint8Array): void {
    if (this.fill !== 0) this.seal();
    let pos = 0;
    let first = true;
    while (pos < message.length) {
      this.openPacket(first ? PACKET_FRAGMENT_FIRST : PACKET_FRAGMENT_MORE);
      const chunk = this.chunks[this.chunks.length - 1]!;
      let at = chunk.sealed * this.slot + PACKET_HEADER_BYTES;
      let room = this.bodyMax;
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
    if (!chunk || chunk.sealed === this.slots) {
      chunk = this.pool.pop() ?? { buf: Buffer.allocUnsafeSlow(this.slots * this.slot), pairs: new Int32Array(2 * this.slots), sealed: 0, sent: 0 };
      this.chunks.push(chunk);
    }
    const buf = chunk.buf;
    const at = chunk.sealed * this.slot;
    const pid = this.pid;
    buf[at] = pid & 0xff;
    buf[at + 1] = (pid >>> 8) & 0xff;
    buf[at + 2] = (pid >>> 16) & 0xff;
    buf[at + 3] = (pid >>> 24) & 0xff;
    buf[at + 4] = this.stream & 0xff;
    buf[at + 5] = this.stream >>> 8;
    // With the length in the header word, seal() fills it in below the kind.
    buf[at + 6] = this.lengthInHeader ? 0 : kind;
    buf[at + 7] = this.lengthInHeader ? kind << 4 : 0;
    this.fill = PACKET_HEADER_BYTES;
  }

  private seal(): void {
    const chunk = this.chunks[this.chunks.length - 1]!;
    const start = chunk.sealed * this.slot;
    if (this.lengthInHeader) {
      const body = this.fill - PACKET_HEADER_BYTES;
      chunk.buf[start + 6] = body & 0xff;
      chunk.buf[start + 7] = (chunk.buf[start + 7]! & 0xf0) | (body >>> 8);
    }
    chunk.pairs[2 * chunk.sealed] = start;
    chunk.pairs[2 * chunk.sealed + 1] = this.fill;
    chunk.sealed++;
    this.queued += this.fill;
    this.fill = 0;
    // A full chunk goes out at once, unless the kernel object is already full.
    if (chunk.sealed === this.slots && !this.waiting) this.resume();
  }

  private flush(): void {
    if (this.failure) return;
    if (this.fill !== 0) this.seal();
    this.resume();
  }

  /** Sends sealed packets until done or the kernel object is full (then waits for room). */
  protected resume(): void {
    if (this.failure) return;
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const pending = chunk.sealed - chunk.sent;
      if (pending > 0) {
        let n: number;
        try {
          n = this.sendPackets(chunk.buf, chunk.pairs, chunk.sent, pending);
        } catch (err) {
          return this.fail(err as ChannelError);
        }
        for (let i = chunk.sent; i < chunk.sent + n; i++) this.queued -= chunk.pairs[2 * i + 1]!;
        chunk.sent += n;
        if (n < pending) {
          if (!this.waiting) {
            this.waiting = true;
            this.startWaiting();
          }
          this.wake();
          return;
        }
      }
      if (this.chunks.length === 1 && this.fill !== 0) break; // the open packet lives in this chunk
      this.chunks.shift();
      chunk.sealed = 0;
      chunk.sent = 0;
      if (this.pool.length < this.maxPooled) this.pool.push(chunk);
    }
    if (this.waiting) {
      this.waiting = false;
      this.stopWaiting();
    }
    this.wake();
  }

  private wake(): void {
    if (this.queued + this.fill <= this.highWater && this.drainWaiters.length > 0) {
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

  /** Fails the sender: pending and later calls reject with `err`. */
  protected fail(err: ChannelError): void {
    if (this.failure || this.released) return;
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
    if (this.released) return;
    this.released = true;
    this.waiting = false;
    this.releaseResources();
    this.chunks.length = 0;
    this.pool.length = 0;
  }

  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.flush();
    if (this.failure) return Promise.reject(this.failure);
    if (this.queued + this.fill <= this.highWater) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  send(message: Uint8Array): Promise<void> {
    return writeOrDrain(this, message);
  }

  /** Sends what is queued and a GOODBYE; resolves once the kernel object took all of it. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.failure) {
      this.isClosed = true;
      return Promise.reject(this.failure);
    }
    this.closing = new Promise<void>((resolve, reject) => {
      if (this.fill !== 0) this.seal();
      this.openPacket(PACKET_GOODBYE);
      this.seal();
      this.emptyWaiter = { resolve, reject };
      this.resume();
    }).then(
      () => {
        this.isClosed = true;
        const stranded = this.undeliverable();
        this.release();
        if (stranded) throw stranded;
      },
      (err) => {
        this.isClosed = true;
        throw err;
      },
    );
    return this.closing;
  }
}

// ---- receiving end -----------------------------------------------------------

/** A watch on a producer's process (a pidfd on the event loop, in @ipc-sampler/posix). */
export interface ProcessWatch {
  close(): void;
}

export interface PacketReaderOptions {
  /** Where batches, closes and losses go. */
  core: Pick<ReceiverCore, "attach" | "push" | "producerClosed" | "producerLost">;
  maxMessageSize: number;
  /** Names the kind of channel in error messages: "FIFO", "message queue". */
  noun: string;
  /** The kernel object's name, in error messages and ChannelError's `resource`. */
  resource: string;
  /**
   * What the kernel object holds at most, in the unit `read()` counts (bytes
   * for a FIFO, messages for a queue): once that much was read after a
   * producer died, everything it wrote has been read.
   */
  capacity: number;
  /** Calls `onExit` once when process `pid` has exited. */
  watchExit: (pid: number, onExit: () => void) => ProcessWatch;
  /** A producer's process exited: read what the kernel object holds, then `settle()`. */
  onExit: () => void;
}

class Producer {
  offsets = new Int32Array(256);
  count = 0;
  /** A large message being reassembled. */
  fragment: Buffer | undefined = undefined;
  fragmentFill = 0;
  exit: ProcessWatch | undefined = undefined;
  /** Set when the process has exited: what had been read, and how often the object was found empty, then. */
  deathMark = 0;
  deathDrains = 0;
  dead = false;
  constructor(
    readonly index: number,
    readonly pid: number,
    readonly key: number,
  ) {}
}

const NO_DATA = Buffer.alloc(0);

/**
 * The receiving side of the packet protocol, whatever kernel object carries
 * it: a registry of producers keyed by pid and stream, each watched for
 * process exit; whole messages collected per producer and handed to
 * `ReceiverCore` as one batch per producer per read (offsets into the
 * transport's read buffer: no copy, no allocation per message); large
 * messages reassembled from fragments. A producer that exits without its
 * GOODBYE is reported lost (EPEERGONE, its partial message discarded) once
 * everything it wrote has been read: the object was found empty after its
 * death, or a whole capacity was read since.
 *
 * The transport reads, checks each packet's kind and length, and calls
 * `packet()` for each, `flush()` after each read, `read()` and `empty()` to
 * say how much it took, and `settle()` when it stops reading for now.
 */
export class PacketReader {
  private readonly byKey = new Map<number, Producer>();
  private readonly touched: Producer[] = [];
  private readonly dying: Producer[] = [];
  /** The buffer the collected offsets point into. */
  private data: Buffer = NO_DATA;
  private progress = 0;
  private drains = 0;

  constructor(private readonly options: PacketReaderOptions) {}

  /** The kernel object's name. */
  get resource(): string {
    return this.options.resource;
  }

  /** Counts what one read took from the kernel object (bytes or messages, as `capacity`). */
  read(amount: number): void {
    this.progress += amount;
  }

  /** The kernel object was found empty. */
  empty(): void {
    this.drains++;
  }

  /**
   * One packet: its header at `at` in `buf`, its body up to `end`. `kind` is
   * one of HELLO..GOODBYE. Packets of unknown or finished producers are dropped.
   */
  packet(buf: Buffer, at: number, kind: number, end: number): void {
    if (buf !== this.data) {
      // Collected offsets point into the previous buffer: hand them out first.
      this.flush();
      this.data = buf;
    }
    const key = packetProducerKey(buf, at);
    const producer = this.byKey.get(key);
    if (kind === PACKET_HELLO) {
      if (!producer) this.hello(readU32(buf, at), key);
    } else if (producer) {
      const start = at + PACKET_HEADER_BYTES;
      if (kind === PACKET_FRAMES) this.frames(producer, buf, start, end);
      else if (kind === PACKET_GOODBYE) this.goodbye(producer);
      else this.fragment(producer, buf, kind, start, end);
    }
  }

  /** End of a read: hands out one batch per producer that got whole messages. */
  flush(): void {
    for (let i = 0; i < this.touched.length; i++) this.flushOne(this.touched[i]!);
    this.touched.length = 0;
  }

  /** Reports each dead producer whose bytes have all been read. */
  settle(): void {
    for (let i = 0; i < this.dying.length; ) {
      const p = this.dying[i]!;
      if (this.drains > p.deathDrains || this.progress - p.deathMark >= this.options.capacity) {
        const partial = p.fragment ? ` (a partial ${p.fragmentFill}-of-${p.fragment.length}-byte message was discarded)` : "";
        p.fragment = undefined;
        const { noun, resource } = this.options;
        this.lose(p, new ChannelError("EPEERGONE", `${noun} producer ${p.index} (pid ${p.pid}) on ${resource} went away without closing${partial}`, { producer: p.index, resource }));
      } else {
        i++;
      }
    }
  }

  /** The kernel object failed: every producer is lost with this error. */
  failAll(error: ChannelError): void {
    this.flush();
    for (const p of [...this.byKey.values()]) this.lose(p, error);
  }

  /** Stops watching every producer's process. */
  close(): void {
    for (const p of this.byKey.values()) p.exit?.close();
    this.byKey.clear();
    this.dying.length = 0;
  }

  private hello(pid: number, key: number): void {
    const producer = new Producer(this.options.core.attach(), pid, key);
    this.byKey.set(key, producer);
    producer.exit = this.options.watchExit(pid, () => this.exited(producer));
  }

  private protocolError(producer: Producer, what: string): ChannelError {
    const { noun, resource } = this.options;
    return new ChannelError("EPROTO", `${noun} producer ${producer.index} (pid ${producer.pid}) sent ${what} on ${resource}`, { producer: producer.index, resource });
  }

  private frames(producer: Producer, buf: Buffer, start: number, end: number): void {
    const max = this.options.maxMessageSize;
    let q = start;
    let n = producer.count;
    let offsets = producer.offsets;
    if (n === 0) this.touched.push(producer);
    while (q < end) {
      const len = end - q >= FRAME_BYTES ? readU32(buf, q) : -1;
      if (len < 0 || q + FRAME_BYTES + len > end || len > max) {
        producer.count = n;
        return this.lose(producer, this.protocolError(producer, "a malformed packet"));
      }
      if (2 * n + 2 > offsets.length) {
        const grown = new Int32Array(offsets.length * 2);
        grown.set(offsets);
        offsets = producer.offsets = grown;
      }
      offsets[2 * n] = q + FRAME_BYTES;
      offsets[2 * n + 1] = len;
      n++;
      q += FRAME_BYTES + len;
    }
    producer.count = n;
  }

  private fragment(producer: Producer, buf: Buffer, kind: number, start: number, end: number): void {
    if (kind === PACKET_FRAGMENT_FIRST) {
      const total = end - start >= FRAME_BYTES ? readU32(buf, start) : -1;
      if (producer.fragment || total < 0 || total > this.options.maxMessageSize) return this.lose(producer, this.protocolError(producer, "a malformed fragment"));
      producer.fragment = Buffer.allocUnsafe(total);
      producer.fragmentFill = 0;
      start += FRAME_BYTES;
    } else if (!producer.fragment) {
      return this.lose(producer, this.protocolError(producer, "a stray fragment"));
    }
    const frag = producer.fragment!;
    if (producer.fragmentFill + (end - start) > frag.length) return this.lose(producer, this.protocolError(producer, "more fragment bytes than announced"));
    buf.copy(frag, producer.fragmentFill, start, end);
    producer.fragmentFill += end - start;
    if (producer.fragmentFill === frag.length) {
      producer.fragment = undefined;
      this.flushOne(producer); // earlier messages first
      this.options.core.push({ count: 1, data: frag, offsets: Int32Array.of(0, frag.length), producer: producer.index });
    }
  }

  private flushOne(producer: Producer): void {
    const n = producer.count;
    if (n === 0) return;
    producer.count = 0;
    this.options.core.push({ count: n, data: this.data, offsets: producer.offsets.slice(0, 2 * n), producer: producer.index });
  }

  private goodbye(producer: Producer): void {
    this.flushOne(producer);
    this.forget(producer);
    if (producer.fragment) this.options.core.producerLost(producer.index, this.protocolError(producer, "a goodbye inside a message"));
    else this.options.core.producerClosed(producer.index);
  }

  private lose(producer: Producer, error: ChannelError): void {
    this.flushOne(producer);
    this.forget(producer);
    this.options.core.producerLost(producer.index, error);
  }

  private forget(producer: Producer): void {
    this.byKey.delete(producer.key);
    producer.exit?.close();
    producer.exit = undefined;
    const i = this.dying.indexOf(producer);
    if (i >= 0) this.dying.splice(i, 1);
  }

  /** The producer's process has exited; what it wrote may still sit in the kernel object. */
  private exited(producer: Producer): void {
    if (this.byKey.get(producer.key) !== producer || producer.dead) return;
    producer.dead = true;
    producer.exit = undefined;
    producer.deathMark = this.progress;
    producer.deathDrains = this.drains;
    this.dying.push(producer);
    this.options.onExit();
  }
}

/** Reads per readiness callback before yielding to the event loop (readiness is level-triggered: it calls again). */
const READS_PER_TURN = 4;

export interface PacketReceiverOptions {
  expectedProducers?: number | undefined;
  onPeerLost?: ((e: ChannelError) => void) | undefined;
  /** Names the kind of channel in producers' error messages: "FIFO", "message queue". */
  noun: string;
  /** Names the channel in the receiver's own error messages: "/tmp/x.fifo", "message queue /x". */
  describe: string;
  /** The kernel object's name. */
  resource: string;
  /** See PacketReaderOptions.capacity. */
  capacity: number;
  /** Calls `onExit` once when process `pid` has exited (watchProcessExit from @ipc-sampler/posix). */
  watchExit: (pid: number, onExit: () => void) => ProcessWatch;
}

/**
 * A Receiver for a packet channel: `ReceiverCore` (batches, backpressure,
 * producer counts) and a `PacketReader`, read a few times per readiness
 * callback. A transport extends it with the kernel object: `watch` (start or
 * stop watching for readable), `readSome` (one non-blocking read, its packets
 * handed to `reader`), and `release`; its readiness callback calls `pump()`,
 * or `breakAll(error)` when the object itself failed.
 */
export abstract class PacketReceiver extends CoreReceiver {
  readonly core: ReceiverCore;
  protected readonly reader: PacketReader;
  private readonly describe: string;
  private paused = false;
  /** Why the kernel object failed; set once by breakAll(). */
  protected broken: ChannelError | undefined;

  protected constructor(readonly address: Address, options: PacketReceiverOptions) {
    super();
    this.describe = options.describe;
    this.core = new ReceiverCore({
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      onPressure: (high) => this.setPaused(high),
      close: () => {
        this.reader.close();
        return this.release();
      },
    });
    this.reader = new PacketReader({
      core: this.core,
      maxMessageSize: address.maxMessageSize,
      noun: options.noun,
      resource: options.resource,
      capacity: options.capacity,
      watchExit: options.watchExit,
      onExit: () => this.pump(),
    });
  }

  /** Starts (true) or stops (false) watching the kernel object for readable. */
  protected abstract watch(on: boolean): void;
  /**
   * Reads once without blocking and hands the packets to `reader` (`packet()`
   * each, `flush()`, and `read()` / `empty()` for what it took). Returns false
   * when there is nothing more to read for now.
   */
  protected abstract readSome(): boolean;
  /** Closes the kernel object (and removes what the receiver created); called once by close(). */
  protected abstract release(): Promise<void> | void;

  admit(): Promise<Admission> {
    if (this.core.closed) return Promise.reject(new ChannelError("ECLOSED", `cannot admit a producer: the receiver of ${this.describe} is closed`, { resource: this.reader.resource }));
    return Promise.resolve({ address: this.address, inherit: [], release: () => {} });
  }

  private setPaused(high: boolean): void {
    if (high === this.paused || this.core.closed) return;
    this.paused = high;
    if (high) this.watch(false);
    else {
      this.watch(true);
      this.pump();
    }
  }

  /** Reads what the kernel object holds (a few reads at most), then settles exited producers. */
  protected pump(): void {
    if (this.core.closed || this.broken) return;
    for (let i = 0; i < READS_PER_TURN && !this.paused; i++) {
      const more = this.readSome();
      if (this.broken || this.core.closed) return;
      if (!more) break;
    }
    this.reader.settle();
  }

  /** The kernel object itself failed: every producer is lost with the reason. */
  protected breakAll(error: ChannelError): void {
    if (this.broken) return;
    this.broken = error;
    this.watch(false);
    this.reader.failAll(error);
  }
}
