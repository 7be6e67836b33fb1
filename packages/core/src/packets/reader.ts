import { POOLED_MIN_BYTES, type BatchBuffers, type Lease, type PooledBatch } from "../batch-buffers.js";
import { ChannelError } from "../errors.js";
import { FRAME_HEADER_BYTES as FRAME_BYTES, readFrameHeader as readU32 } from "../framing.js";
import type { ReceiverCore } from "../receiver-core.js";
import { MAX_PACKET_PRODUCERS, PACKET_FRAGMENT_FIRST, PACKET_FRAMES, PACKET_GOODBYE, PACKET_HEADER_BYTES, PACKET_HELLO, packetProducerKey } from "./wire.js";

// ---- receiving end -----------------------------------------------------------

/** A watch on a producer's liveness (its slot lock on the kernel object, in @ipc-sampler/posix). */
export interface PeerWatch {
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
  /**
   * Calls `onGone` once when producer `number` (1 to MAX_PACKET_PRODUCERS,
   * checked) no longer holds its lock: it died or closed. Each producer
   * locks a byte of the kernel object for its number before its HELLO, so a
   * pid (another pid namespace's, or a reused one) is never involved.
   */
  watchPeer: (number: number, onGone: () => void) => PeerWatch;
  /** A producer's lock was dropped: read what the kernel object holds, then `settle()`. */
  onExit: () => void;
  /** ListenOptions.reuseBatches: large messages are reassembled in buffers that released batches gave back. */
  buffers?: BatchBuffers | undefined;
}

class Producer {
  offsets = new Int32Array(256);
  count = 0;
  /** A large message being reassembled. */
  fragment: Buffer | undefined = undefined;
  /** The pooled buffer `fragment` is a view of (reuseBatches). */
  fragmentLease: Lease | undefined = undefined;
  fragmentFill = 0;
  exit: PeerWatch | undefined = undefined;
  /** Set when its lock was dropped: what had been read, and how often the object was found empty, then. */
  deathMark = 0;
  deathDrains = 0;
  dead = false;
  constructor(
    readonly index: number,
    /** The producer number from its packets: the slot whose lock it holds. */
    readonly number: number,
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
 * messages reassembled from fragments. A producer whose lock is dropped (it
 * died) without its GOODBYE is reported lost (EPEERGONE, its partial message discarded) once
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
  /** The pooled buffer `data` is (the transport's read arena, with reuseBatches): each batch in it holds it too. */
  private dataLease: Lease | undefined;
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
   * one of HELLO..GOODBYE. Packets of unknown or finished producers are
   * dropped. `lease`: `buf` is this pooled buffer, which the batches that
   * point into it hold until they are released.
   */
  packet(buf: Buffer, at: number, kind: number, end: number, lease?: Lease): void {
    // The lease too: a pooled buffer comes back under a new lease, and batches
    // must hold that one (the old one has already given the buffer back).
    if (buf !== this.data || lease !== this.dataLease) {
      // Collected offsets point into the previous buffer: hand them out first.
      this.flush();
      this.data = buf;
      this.dataLease = lease;
    }
    const key = packetProducerKey(buf, at);
    const producer = this.byKey.get(key);
    if (kind === PACKET_HELLO) {
      // A known key: its slot lock was dropped and taken again, so the earlier
      // producer is gone, and everything it wrote came before this HELLO.
      if (producer) this.lose(producer, this.gone(producer, " (a new producer took its slot)"));
      this.hello(readU32(buf, at), key);
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
        this.lose(p, this.gone(p, ""));
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

  private gone(p: Producer, why: string): ChannelError {
    const partial = p.fragment ? ` (a partial ${p.fragmentFill}-of-${p.fragment.length}-byte message was discarded)` : "";
    const { noun, resource } = this.options;
    return new ChannelError("EPEERGONE", `${noun} producer ${p.index} (number ${p.number}) on ${resource} went away without closing${why}${partial}`, { producer: p.index, resource });
  }

  /** Stops watching every producer. */
  close(): void {
    for (const p of this.byKey.values()) p.exit?.close();
    this.byKey.clear();
    this.dying.length = 0;
  }

  /**
   * A HELLO's producer number is a claim: it must be one a producer can
   * lock (1 to MAX_PACKET_PRODUCERS) before it is watched, and the registry
   * holds at most MAX_PACKET_PRODUCERS producers. A HELLO that fails either
   * is counted as a producer and lost at once, with EPROTO or ELIMIT; the
   * producers already attached keep flowing.
   */
  private hello(number: number, key: number): void {
    const producer = new Producer(this.options.core.attach(), number, key);
    const { noun, resource } = this.options;
    if (!(number >= 1 && number <= MAX_PACKET_PRODUCERS)) {
      this.options.core.producerLost(producer.index, new ChannelError("EPROTO", `${noun} producer ${producer.index} sent a HELLO with producer number ${number}, outside 1 to ${MAX_PACKET_PRODUCERS}, on ${resource}`, { producer: producer.index, resource }));
      return;
    }
    if (this.byKey.size >= MAX_PACKET_PRODUCERS) {
      this.options.core.producerLost(producer.index, new ChannelError("ELIMIT", `${noun} producer ${producer.index} (number ${number}) on ${resource} was refused: ${MAX_PACKET_PRODUCERS} producers are attached already`, { producer: producer.index, resource }));
      return;
    }
    this.byKey.set(key, producer);
    try {
      producer.exit = this.options.watchPeer(number, () => this.exited(producer));
    } catch (err) {
      this.forget(producer);
      this.options.core.producerLost(producer.index, ChannelError.is(err) ? err : new ChannelError("ELIMIT", `cannot watch ${noun} producer ${producer.index} (number ${number}) on ${resource}: ${(err as Error).message}`, { producer: producer.index, resource, cause: err }));
    }
  }

  private protocolError(producer: Producer, what: string): ChannelError {
    const { noun, resource } = this.options;
    return new ChannelError("EPROTO", `${noun} producer ${producer.index} (number ${producer.number}) sent ${what} on ${resource}`, { producer: producer.index, resource });
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
      const buffers = this.options.buffers;
      if (buffers && total >= POOLED_MIN_BYTES) {
        producer.fragmentLease = buffers.lease(total);
        producer.fragment = producer.fragmentLease.buffer.subarray(0, total);
      } else {
        producer.fragment = Buffer.allocUnsafe(total);
      }
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
      const lease = producer.fragmentLease;
      producer.fragment = undefined;
      producer.fragmentLease = undefined;
      this.flushOne(producer); // earlier messages first
      const batch: PooledBatch = { count: 1, data: frag, offsets: Int32Array.of(0, frag.length), producer: producer.index, lease };
      this.options.core.push(batch);
    }
  }

  /** A partial message is discarded: its pooled buffer goes back. */
  private dropFragment(p: Producer): void {
    if (p.fragmentLease) this.options.buffers!.drop(p.fragmentLease);
    p.fragment = undefined;
    p.fragmentLease = undefined;
  }

  private flushOne(producer: Producer): void {
    const n = producer.count;
    if (n === 0) return;
    producer.count = 0;
    const lease = this.dataLease;
    if (lease) lease.holders++;
    const batch: PooledBatch = { count: n, data: this.data, offsets: producer.offsets.slice(0, 2 * n), producer: producer.index, lease };
    this.options.core.push(batch);
  }

  private goodbye(producer: Producer): void {
    const inside = producer.fragment !== undefined;
    this.flushOne(producer);
    this.forget(producer);
    if (inside) this.options.core.producerLost(producer.index, this.protocolError(producer, "a goodbye inside a message"));
    else this.options.core.producerClosed(producer.index);
  }

  private lose(producer: Producer, error: ChannelError): void {
    this.flushOne(producer);
    this.forget(producer);
    this.options.core.producerLost(producer.index, error);
  }

  /** The producer is done (closed or lost, however): unwatched, and its partial message, if any, discarded. */
  private forget(producer: Producer): void {
    this.dropFragment(producer);
    this.byKey.delete(producer.key);
    producer.exit?.close();
    producer.exit = undefined;
    const i = this.dying.indexOf(producer);
    if (i >= 0) this.dying.splice(i, 1);
  }

  /** The producer's lock was dropped (it died); what it wrote may still sit in the kernel object. */
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
