import { closeSync } from "node:fs";
import { ChannelError, PACKET_GOODBYE, PACKET_HEADER_BYTES, PACKET_HELLO, PacketReader, ReceiverCore, type Address, type Admission, type MessageBatch, type ProducerCounts, type Receiver } from "@ipc-sampler/core";
import { FdWatcher, READABLE, readNonBlocking, watchProcessExit } from "@ipc-sampler/posix";
import { BODY_MAX } from "./protocol.js";

/** Reads land back to back in an arena; batches point into it, so nothing is copied twice. */
const ARENA_BYTES = 4 * 1024 * 1024;
const MIN_READ = 256 * 1024;
/** Reads per readiness callback before yielding to the event loop (level-triggered: it calls again). */
const READS_PER_TURN = 4;

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
 * readable and cuts the byte stream into packets; core's `PacketReader` sorts
 * them by producer, reassembles large messages, and hands out one batch per
 * producer per read. A producer that exits without its goodbye is reported
 * once every byte it wrote has been read (the FIFO found empty, or a pipe's
 * capacity read since its death).
 */
export class FifoReceiver implements Receiver {
  readonly core: ReceiverCore;
  private readonly path: string;
  private readonly readFd: number;
  private readonly writeFd: number;
  private readonly pipeSize: number;
  private readonly watcher: FdWatcher;
  private readonly reader: PacketReader;
  private arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
  /** End of the bytes read into the arena. */
  private pos = 0;
  /** Start of the first packet not yet parsed. */
  private parsed = 0;
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
    this.reader = new PacketReader({
      core: this.core,
      maxMessageSize: address.maxMessageSize,
      noun: "FIFO",
      resource: this.path,
      capacity: this.pipeSize,
      watchExit: watchProcessExit,
      onExit: () => this.pump(),
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
        this.reader.empty();
        break;
      }
      this.pos += n;
      this.reader.read(n);
      this.parse();
      if (this.broken || this.core.closed) return;
      if (n < want) {
        this.reader.empty();
        break;
      }
    }
    this.reader.settle();
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

  /** Cuts the bytes read into packets by the length in each header word. */
  private parse(): void {
    const buf = this.arena;
    const end = this.pos;
    let p = this.parsed;
    while (end - p >= PACKET_HEADER_BYTES) {
      const w = buf[p + 6]! | (buf[p + 7]! << 8);
      const kind = w >>> 12;
      const body = w & 0xfff;
      if (kind < PACKET_HELLO || kind > PACKET_GOODBYE || body > BODY_MAX) {
        this.breakAll(new ChannelError("EPROTO", `FIFO ${this.path} carries a malformed packet (kind ${kind}, ${body} bytes): another program writes to it`, { resource: this.path }));
        return;
      }
      const next = p + PACKET_HEADER_BYTES + body;
      if (next > end) break;
      this.reader.packet(buf, p, kind, next);
      p = next;
    }
    this.parsed = p;
    this.reader.flush();
  }

  /** The FIFO itself failed: every producer is lost with the reason. */
  private breakAll(error: ChannelError): void {
    if (this.broken) return;
    this.broken = error;
    this.watcher.stop();
    this.reader.failAll(error);
  }

  private release(): void {
    this.watcher.close();
    this.reader.close();
    closeSync(this.readFd);
    closeSync(this.writeFd);
    this.options.cleanup();
  }

  get producers(): ProducerCounts {
    return this.core.counts;
  }
}
