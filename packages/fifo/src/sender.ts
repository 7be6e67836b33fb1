import { closeSync } from "node:fs";
import { ChannelError, PacketSender } from "@ipc-sampler/core";
import { FdWatcher, WRITABLE, writeEach } from "@ipc-sampler/posix";
import { PACKET_BYTES } from "./protocol.js";

/**
 * The producing end of a shared FIFO. Core's `PacketSender` copies messages
 * into packets of at most PIPE_BUF bytes; they are written up to 64 per native
 * call, each short packet in its own write(2) (atomic), each run of adjacent
 * full ones (a large message's fragments) in one: Linux cuts such a write only
 * between pages, and a full packet is one page (posix `writeEach`, pageRun).
 * When the FIFO is full the sender waits for POLLOUT; it never spins.
 */
export class FifoSender extends PacketSender {
  private fdOpen = true;
  private readonly watcher: FdWatcher;

  /** `producer`: 1 + the slot whose lock this producer holds on `fd` (see connect). */
  constructor(private readonly fd: number, resource: string, maxMessageSize: number, producer: number) {
    super({ packetBytes: PACKET_BYTES, packetsPerChunk: 64, highWaterMark: 1024 * 1024, maxPooledChunks: 16, lengthInHeader: true, maxMessageSize, describe: resource, resource, producer });
    this.watcher = new FdWatcher(fd, (err) => this.onWritable(err), resource);
    this.hello();
  }

  protected sendPackets(buf: Buffer, pairs: Int32Array, from: number, count: number): number {
    try {
      return writeEach(this.fd, buf, pairs, from, count, PACKET_BYTES);
    } catch (err) {
      const e = err as ChannelError;
      if (e.errno === "EPIPE") {
        throw new ChannelError("EPEERGONE", `cannot send to ${this.resource}: the receiver went away`, { errno: "EPIPE", syscall: "write", resource: this.resource, cause: err });
      }
      throw e instanceof ChannelError ? e : new ChannelError("ESYSCALL", `cannot send to ${this.resource}: ${String(err)}`, { resource: this.resource, cause: err });
    }
  }

  protected startWaiting(): void {
    this.watcher.start(WRITABLE);
  }

  protected stopWaiting(): void {
    this.watcher.stop();
  }

  private onWritable(err: ChannelError | undefined): void {
    this.resume();
    // POLLERR: the receiver closed its end. resume() above saw EPIPE unless nothing was pending.
    if (err && !this.failure) this.fail(new ChannelError("EPEERGONE", `cannot send to ${this.resource}: the receiver went away`, { resource: this.resource, cause: err }));
  }

  protected releaseResources(): void {
    this.watcher.close();
    if (this.fdOpen) {
      this.fdOpen = false;
      closeSync(this.fd);
    }
  }
}
