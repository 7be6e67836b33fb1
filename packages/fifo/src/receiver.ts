import { closeSync } from "node:fs";
import { ChannelError, ReceiverCore, type Address, type Admission, type MessageBatch, type ProducerCounts, type Receiver } from "@ipc-sampler/core";
import { FdWatcher, READABLE, readNonBlocking, watchProcessExit, type ProcessExitWatch } from "@ipc-sampler/posix";
import { BODY_MAX, FRAGMENT_FIRST, FRAGMENT_MORE, FRAME_BYTES, FRAMES, GOODBYE, HEADER_BYTES, HELLO, readU32 } from "./protocol.js";

/** Reads land back to back in an arena; batches point into it, so nothing is copied twice. */
const ARENA_BYTES = 4 * 1024 * 1024;
const MIN_READ = 256 * 1024;
/** Reads per readiness callback before yielding to the event loop (level-triggered: it calls again). */
const READS_PER_TURN = 4;

interface Producer {
  readonly index: number;
  readonly pid: number;
  readonly key: number;
  offsets: Int32Array;
  count: number;
  /** A large message being reassembled. */
  fragment: Buffer | undefined;
  fragmentFill: number;
  exit: ProcessExitWatch | undefined;
  /** Set when the process has exited: bytes read and drains seen at that moment. */
  deathMark: number;
  deathDrains: number;
  dead: boolean;
}

export interface FifoReceiverOptions {
  path: string;
  readFd: number;
  writeFd: number;
  pipeSize: number;
  expectedProducers?: number | undefined;
  onPeerLost?: ((e: ChannelError) => void) | undefined;
  cleanup: () => void;
}

/**
 * The consuming end of a shared FIFO: reads packets as the FIFO becomes
 * readable, sorts them by producer, reassembles large messages, and hands out
 * one batch per producer per read. A producer that exits without its goodbye
 * is reported once every byte it wrote has been read.
 */
export class FifoReceiver implements Receiver {
  readonly core: ReceiverCore;
  private readonly path: string;
  private readonly readFd: number;
  private readonly writeFd: number;
  private readonly pipeSize: number;
  private readonly watcher: FdWatcher;
  private readonly byKey = new Map<number, Producer>();
  private readonly touched: Producer[] = [];
  private readonly dying: Producer[] = [];
  private arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
  /** End of the bytes read into the arena. */
  private pos = 0;
  /** Start of the first packet not yet parsed. */
  private parsed = 0;
  private totalRead = 0;
  private drains = 0;
  private paused = false;
  private broken: ChannelError | undefined;

  constructor(readonly address: Address, private readonly options: FifoReceiverOptions) {
    this.path = options.path;
    this.readFd = options.readFd;
    this.writeFd = options.writeFd;
    this.pipeSize = options.pipeSize;
    this.core = new ReceiverCore({
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      onPressure: (high) => this.setPaused(high),
      close: () => this.release(),
    });
    this.watcher = new FdWatcher(this.readFd, (err) => (err ? this.breakAll(err) : this.pump()), this.path);
    this.watcher.start(READABLE);
  }

  get maxMessageSize(): number {
    return this.address.maxMessageSize;
  }
  get closed(): boolean {
    return this.core.closed;
  }
  admit(): Promise<Admission> {
    if (this.core.closed) return Promise.reject(new ChannelError("ECLOSED", `cannot admit a producer: the receiver of ${this.path} is closed`, { resource: this.path }));
    return Promise.resolve({ address: this.address, inherit: [], release: () => {} });
  }
  batches(): AsyncIterableIterator<MessageBatch> {
    return this.core.batches();
  }
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.core.messages();
  }
  close(): Promise<void> {
    return this.core.close();
  }

  private setPaused(high: boolean): void {
    if (high === this.paused || this.core.closed) return;
    this.paused = high;
    if (high) this.watcher.stop();
    else {
      this.watcher.start(READABLE);
      this.pump();
    }
  }

  /** Reads what the FIFO holds (a few reads at most), parses it, settles exited producers. */
  private pump(): void {
    if (this.core.closed || this.broken) return;
    for (let i = 0; i < READS_PER_TURN && !this.paused; i++) {
      if (ARENA_BYTES - this.pos < MIN_READ) this.newArena();
      const want = Math.min(ARENA_BYTES - this.pos, this.pipeSize);
      let n: number;
      try {
        n = readNonBlocking(this.readFd, this.arena, this.pos, want);
      } catch (err) {
        return this.breakAll(err as ChannelError);
      }
      if (n <= 0) {
        // -1: empty (EAGAIN). 0 cannot happen while we hold a write end.
        this.drains++;
        break;
      }
      this.pos += n;
      this.totalRead += n;
      this.parse();
      if (this.broken || this.core.closed) return;
      if (n < want) {
        this.drains++;
        break;
      }
    }
    if (this.dying.length > 0) this.settleDeaths();
  }

  /** Moves the unparsed tail (less than one packet) to a fresh arena. */
  private newArena(): void {
    const old = this.arena;
    const tail = this.pos - this.parsed;
    this.arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
    old.copy(this.arena, 0, this.parsed, this.pos);
    this.pos = tail;
    this.parsed = 0;
  }

  private parse(): void {
    const buf = this.arena;
    const end = this.pos;
    let p = this.parsed;
    while (end - p >= HEADER_BYTES) {
      const w = buf[p + 6]! | (buf[p + 7]! << 8);
      const kind = w >>> 12;
      const body = w & 0xfff;
      if (kind < HELLO || kind > GOODBYE || body > BODY_MAX) {
        this.breakAll(new ChannelError("EPROTO", `FIFO ${this.path} carries a malformed packet (kind ${kind}, ${body} bytes): another program writes to it`, { resource: this.path }));
        return;
      }
      const next = p + HEADER_BYTES + body;
      if (next > end) break;
      const pid = readU32(buf, p);
      const key = pid * 65536 + (buf[p + 4]! | (buf[p + 5]! << 8));
      const producer = this.byKey.get(key);
      if (kind === HELLO) {
        if (!producer) this.hello(pid, key);
      } else if (producer) {
        const start = p + HEADER_BYTES;
        if (kind === FRAMES) this.frames(producer, buf, start, next);
        else if (kind === GOODBYE) this.goodbye(producer);
        else this.fragment(producer, buf, kind, start, next);
      }
      // Packets of a producer that is unknown or gone are dropped.
      p = next;
    }
    this.parsed = p;
    this.flushTouched();
  }

  private hello(pid: number, key: number): void {
    const producer: Producer = {
      index: this.core.attach(),
      pid,
      key,
      offsets: new Int32Array(256),
      count: 0,
      fragment: undefined,
      fragmentFill: 0,
      exit: undefined,
      deathMark: 0,
      deathDrains: 0,
      dead: false,
    };
    this.byKey.set(key, producer);
    producer.exit = watchProcessExit(pid, () => this.exited(producer));
  }

  private frames(producer: Producer, buf: Buffer, start: number, end: number): void {
    const max = this.address.maxMessageSize;
    let q = start;
    let n = producer.count;
    let offsets = producer.offsets;
    if (n === 0) this.touched.push(producer);
    while (q < end) {
      const len = end - q >= FRAME_BYTES ? readU32(buf, q) : -1;
      if (len < 0 || q + FRAME_BYTES + len > end || len > max) {
        producer.count = n;
        return this.lose(producer, new ChannelError("EPROTO", `FIFO producer ${producer.index} (pid ${producer.pid}) sent a malformed packet on ${this.path}`, { producer: producer.index, resource: this.path }));
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
    if (kind === FRAGMENT_FIRST) {
      const total = end - start >= FRAME_BYTES ? readU32(buf, start) : -1;
      if (producer.fragment || total < 0 || total > this.address.maxMessageSize) {
        return this.lose(producer, new ChannelError("EPROTO", `FIFO producer ${producer.index} (pid ${producer.pid}) sent a malformed fragment on ${this.path}`, { producer: producer.index, resource: this.path }));
      }
      producer.fragment = Buffer.allocUnsafe(total);
      producer.fragmentFill = 0;
      start += FRAME_BYTES;
    } else if (kind !== FRAGMENT_MORE || !producer.fragment) {
      return this.lose(producer, new ChannelError("EPROTO", `FIFO producer ${producer.index} (pid ${producer.pid}) sent a stray fragment on ${this.path}`, { producer: producer.index, resource: this.path }));
    }
    const frag = producer.fragment!;
    const take = end - start;
    if (producer.fragmentFill + take > frag.length) {
      return this.lose(producer, new ChannelError("EPROTO", `FIFO producer ${producer.index} (pid ${producer.pid}) sent more fragment bytes than announced on ${this.path}`, { producer: producer.index, resource: this.path }));
    }
    buf.copy(frag, producer.fragmentFill, start, end);
    producer.fragmentFill += take;
    if (producer.fragmentFill === frag.length) {
      producer.fragment = undefined;
      this.flushOne(producer); // earlier messages first
      this.core.push({ count: 1, data: frag, offsets: Int32Array.of(0, frag.length), producer: producer.index });
    }
  }

  private flushOne(producer: Producer): void {
    const n = producer.count;
    if (n === 0) return;
    producer.count = 0;
    this.core.push({ count: n, data: this.arena, offsets: producer.offsets.slice(0, 2 * n), producer: producer.index });
  }

  private flushTouched(): void {
    for (let i = 0; i < this.touched.length; i++) this.flushOne(this.touched[i]!);
    this.touched.length = 0;
  }

  private goodbye(producer: Producer): void {
    this.flushOne(producer);
    this.forget(producer);
    if (producer.fragment) {
      this.core.producerLost(producer.index, new ChannelError("EPROTO", `FIFO producer ${producer.index} (pid ${producer.pid}) said goodbye inside a message on ${this.path}`, { producer: producer.index, resource: this.path }));
    } else {
      this.core.producerClosed(producer.index);
    }
  }

  private lose(producer: Producer, error: ChannelError): void {
    this.flushOne(producer);
    this.forget(producer);
    this.core.producerLost(producer.index, error);
  }

  private forget(producer: Producer): void {
    this.byKey.delete(producer.key);
    producer.exit?.close();
    producer.exit = undefined;
    const i = this.dying.indexOf(producer);
    if (i >= 0) this.dying.splice(i, 1);
  }

  /** The producer's process has exited; what it wrote may still sit in the FIFO. */
  private exited(producer: Producer): void {
    if (!this.byKey.has(producer.key) || producer.dead) return;
    producer.dead = true;
    producer.exit = undefined;
    producer.deathMark = this.totalRead;
    producer.deathDrains = this.drains;
    this.dying.push(producer);
    this.pump();
  }

  /**
   * Every byte a dead producer wrote has been read once the FIFO was found
   * empty after its death, or once a pipe's capacity has been read since.
   */
  private settleDeaths(): void {
    for (let i = 0; i < this.dying.length; ) {
      const p = this.dying[i]!;
      if (this.drains > p.deathDrains || this.totalRead - p.deathMark >= this.pipeSize) {
        const partial = p.fragment ? ` (a partial ${p.fragmentFill}-of-${p.fragment.length}-byte message was discarded)` : "";
        p.fragment = undefined;
        this.lose(p, new ChannelError("EPEERGONE", `FIFO producer ${p.index} (pid ${p.pid}) on ${this.path} went away without closing${partial}`, { producer: p.index, resource: this.path }));
      } else {
        i++;
      }
    }
  }

  /** The FIFO itself failed: every producer is lost with the reason. */
  private breakAll(error: ChannelError): void {
    if (this.broken) return;
    this.broken = error;
    this.watcher.stop();
    this.flushTouched();
    for (const p of [...this.byKey.values()]) this.lose(p, error);
  }

  private release(): void {
    this.watcher.close();
    for (const p of this.byKey.values()) p.exit?.close();
    this.byKey.clear();
    this.dying.length = 0;
    closeSync(this.readFd);
    closeSync(this.writeFd);
    this.options.cleanup();
  }

  get producers(): ProducerCounts {
    return this.core.counts;
  }
}
