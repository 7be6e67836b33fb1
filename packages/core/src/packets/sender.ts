import { ChannelError } from "../errors.js";
import { FRAME_HEADER_BYTES as FRAME_BYTES, writeFrameHeader as writeU32 } from "../framing.js";
import { SenderBase } from "../sender-base.js";
import { MAX_PACKET_PRODUCERS, PACKET_FRAGMENT_FIRST, PACKET_FRAGMENT_MORE, PACKET_FRAMES, PACKET_GOODBYE, PACKET_HEADER_BYTES, PACKET_HELLO } from "./wire.js";

// ---- producing end -----------------------------------------------------------

export interface PacketSenderOptions {
  /** Largest packet, header included: PIPE_BUF for a FIFO, mq_msgsize for a queue. */
  packetBytes: number;
  /** Packets per chunk; the transport gets at most one chunk per `sendPackets` call. */
  packetsPerChunk: number;
  /** `write()` returns false above this many bytes waiting to be sent. */
  highWaterMark: number;
  /** Written chunks kept for reuse, at least; more while messages need more at once (see PacketSender.poolLimit). */
  maxPooledChunks: number;
  /** Put the body length in the header word (a byte stream) instead of 0 (a message queue). */
  lengthInHeader: boolean;
  maxMessageSize: number;
  /** Names the channel in error messages: "/tmp/x.fifo", "message queue /x". */
  describe: string;
  /** The kernel object's name, for ChannelError's `resource`. */
  resource: string;
  /** This producer's number (1 to MAX_PACKET_PRODUCERS): 1 + the slot whose lock it holds on the kernel object. */
  producer: number;
}

interface Chunk {
  readonly buf: Buffer;
  /** (start, length) of each sealed packet. */
  readonly pairs: Int32Array;
  sealed: number;
  sent: number;
}

/** The most memory a sender keeps in written chunks for reuse (PacketSender.poolLimit). */
const POOL_CEILING_BYTES = 8 * 1024 * 1024;

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
export abstract class PacketSender extends SenderBase {
  private readonly producer: number;
  private readonly stream = streams++ & 0xffff;
  private readonly slot: number;
  private readonly slots: number;
  private readonly bodyMax: number;
  private readonly highWater: number;
  private readonly maxPooled: number;
  private readonly lengthInHeader: boolean;
  private readonly chunks: Chunk[] = [];
  private readonly pool: Chunk[] = [];
  /**
   * Written chunks kept for reuse: maxPooledChunks, or as many as were ever
   * in use at once, up to 8 MiB of them. A large message is copied into
   * chunks whole (1 MiB into a queue's 8 KiB packets: 8 chunks of 128 KiB)
   * and each fresh chunk faults on every page it fills.
   */
  private poolLimit: number;
  private readonly poolCeiling: number;
  /** Bytes in the open packet (header included); 0: no open packet. */
  private fill = 0;
  /** Bytes in sealed packets not yet sent. */
  private queued = 0;
  private scheduled = false;
  private waiting = false;
  private readonly flushSoon = () => {
    this.scheduled = false;
    this.flush();
  };

  protected constructor(options: PacketSenderOptions) {
    super({ maxMessageSize: options.maxMessageSize, target: options.describe, resource: options.resource });
    if (!Number.isInteger(options.producer) || options.producer < 1 || options.producer > MAX_PACKET_PRODUCERS) throw new RangeError(`producer must be an integer from 1 to ${MAX_PACKET_PRODUCERS}; got ${options.producer}`);
    this.producer = options.producer;
    this.slot = options.packetBytes;
    this.slots = options.packetsPerChunk;
    this.bodyMax = options.packetBytes - PACKET_HEADER_BYTES;
    this.highWater = options.highWaterMark;
    this.maxPooled = options.maxPooledChunks;
    this.poolLimit = this.maxPooled;
    this.poolCeiling = Math.max(this.maxPooled, Math.floor(POOL_CEILING_BYTES / (this.slots * this.slot)));
    this.lengthInHeader = options.lengthInHeader;
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

  write(message: Uint8Array): boolean {
    const len = message.length;
    this.admit(len);
    // Nothing waits before this message: everything written earlier went out at the last flush.
    const first = !this.scheduled && this.queued === 0 && !this.waiting;
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
      // The first message of a run goes out now, so a lone message or a
      // reply waits for nothing; the messages written after it in the same
      // run share packets, sent when it yields (a microtask: a receiver that
      // reads while its caller waits must not hold the next reply back for
      // a loop turn). A busy channel waits a loop turn so more join.
      if (first) {
        this.flush();
        queueMicrotask(this.flushSoon);
      } else {
        setImmediate(this.flushSoon);
      }
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
      if (this.chunks.length > this.poolLimit) this.poolLimit = Math.min(this.chunks.length, this.poolCeiling);
    }
    const buf = chunk.buf;
    const at = chunk.sealed * this.slot;
    const producer = this.producer;
    buf[at] = producer & 0xff;
    buf[at + 1] = (producer >>> 8) & 0xff;
    buf[at + 2] = (producer >>> 16) & 0xff;
    buf[at + 3] = (producer >>> 24) & 0xff;
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
      if (this.pool.length < this.poolLimit) this.pool.push(chunk);
    }
    if (this.waiting) {
      this.waiting = false;
      this.stopWaiting();
    }
    this.wake();
  }

  protected override belowHighWater(): boolean {
    return this.queued + this.fill <= this.highWater;
  }

  protected override flushPending(): void {
    this.flush();
  }

  protected override onFailure(): void {
    this.releaseOnce();
  }

  protected override release(): void {
    this.waiting = false;
    this.releaseResources();
    this.chunks.length = 0;
    this.pool.length = 0;
  }

  /** Sends what is queued and a GOODBYE; resolves once the kernel object took all of it. */
  protected async finish(): Promise<void> {
    if (this.fill !== 0) this.seal();
    this.openPacket(PACKET_GOODBYE);
    this.seal();
    this.resume();
    await this.whenIdle(() => this.queued === 0 && this.fill === 0);
    const stranded = this.undeliverable();
    if (stranded) throw stranded;
  }
}
