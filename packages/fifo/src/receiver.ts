import { closeSync } from "node:fs";
import { ChannelError, PACKET_GOODBYE, PACKET_HEADER_BYTES, PACKET_HELLO, PacketReceiver, type Address, type Lease } from "@ipc-sampler/core";
import { FdWatcher, PeerSlotWatcher, READABLE, readNonBlocking, spinnerFor } from "@ipc-sampler/posix";
import { BODY_MAX } from "./protocol.js";

/**
 * Reads land back to back in an arena; batches point into it, so nothing is
 * copied twice. One FIFO's worth (1 MiB, the capacity asked for): a larger
 * arena only means more fresh pages to fault in before the pool has one to
 * give back (4 MiB was 5–7% slower at 64 B, 64 KiB and 1 MiB here).
 */
const ARENA_BYTES = 1024 * 1024;
const MIN_READ = 256 * 1024;

export interface FifoReceiverOptions {
  path: string;
  readFd: number;
  writeFd: number;
  pipeSize: number;
  expectedProducers?: number | undefined;
  onPeerLost?: ((e: ChannelError) => void) | undefined;
  /** See FifoListenOptions.spinUs. */
  spinUs?: number | undefined;
  /** See ListenOptions.reuseBatches. */
  reuseBatches?: boolean | undefined;
  cleanup: () => void;
}

/**
 * The consuming end of a shared FIFO: reads as the FIFO becomes readable and
 * cuts the byte stream into packets; core's `PacketReceiver` sorts them by
 * producer, reassembles large messages, and hands out one batch per producer
 * per read. A producer whose slot lock is dropped (it died) without its
 * goodbye is reported once every byte it wrote has been read (the FIFO found empty, or a pipe's capacity
 * read since its death).
 */
export class FifoReceiver extends PacketReceiver {
  private readonly path: string;
  private readonly readFd: number;
  private readonly writeFd: number;
  private readonly pipeSize: number;
  private readonly watcher: FdWatcher;
  private arena: Buffer;
  /** With reuseBatches, the arena is pooled: this process holds it while it reads into it, each batch in it too. */
  private arenaLease: Lease | undefined;
  /** End of the bytes read into the arena. */
  private pos = 0;
  /** Start of the first packet not yet parsed. */
  private parsed = 0;

  private readonly peers: PeerSlotWatcher;

  constructor(address: Address, private readonly options: FifoReceiverOptions) {
    const peers = new PeerSlotWatcher(options.readFd);
    super(address, {
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      spinner: spinnerFor(options.spinUs),
      reuseBatches: options.reuseBatches,
      noun: "FIFO",
      describe: options.path,
      resource: options.path,
      capacity: options.pipeSize,
      // Producer n holds the lock of slot n - 1 on the FIFO (see connect): asked on the read end.
      watchPeer: (n, onGone) => peers.watch(n - 1, onGone),
    });
    this.peers = peers;
    this.path = options.path;
    this.readFd = options.readFd;
    this.writeFd = options.writeFd;
    this.pipeSize = options.pipeSize;
    this.arenaLease = this.buffers?.lease(ARENA_BYTES);
    this.arena = this.arenaLease ? this.arenaLease.buffer : Buffer.allocUnsafeSlow(ARENA_BYTES);
    this.watcher = new FdWatcher(this.readFd, (err) => (err ? this.breakAll(err) : this.pump()), this.path);
    this.watcher.start(READABLE);
  }

  protected watch(on: boolean): void {
    if (on) this.watcher.start(READABLE);
    else this.watcher.stop();
  }

  protected readSome(): boolean {
    if (ARENA_BYTES - this.pos < MIN_READ) this.newArena();
    const want = Math.min(ARENA_BYTES - this.pos, this.pipeSize);
    let n: number;
    try {
      n = readNonBlocking(this.readFd, this.arena, this.pos, want);
    } catch (err) {
      this.breakAll(err as ChannelError);
      return false;
    }
    if (n <= 0) {
      // -1: empty (EAGAIN). 0 cannot happen while we hold a write end.
      this.reader.empty();
      return false;
    }
    this.pos += n;
    this.reader.read(n);
    this.parse();
    if (n < want) {
      this.reader.empty();
      return false;
    }
    return true;
  }

  /** Moves the unparsed tail (less than one packet) to a fresh arena. */
  private newArena(): void {
    const old = this.arena;
    const oldLease = this.arenaLease;
    const tail = this.pos - this.parsed;
    this.arenaLease = this.buffers?.lease(ARENA_BYTES);
    this.arena = this.arenaLease ? this.arenaLease.buffer : Buffer.allocUnsafeSlow(ARENA_BYTES);
    old.copy(this.arena, 0, this.parsed, this.pos);
    if (oldLease) this.buffers!.drop(oldLease);
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
      this.reader.packet(buf, p, kind, next, this.arenaLease);
      p = next;
    }
    this.parsed = p;
    this.reader.flush();
  }

  protected release(): void {
    this.watcher.close();
    this.peers.close();
    closeSync(this.readFd);
    closeSync(this.writeFd);
    this.options.cleanup();
  }
}
