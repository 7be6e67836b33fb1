import { BatchBuffers } from "../batch-buffers.js";
import { ChannelError } from "../errors.js";
import type { Address, Admission } from "../interface.js";
import { CoreReceiver, ReceiverCore, type Spinner } from "../receiver-core.js";
import { PacketReader, type PacketReaderOptions } from "./reader.js";

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
  /** See PacketReaderOptions.watchPeer (a PeerSlotWatcher from @ipc-sampler/posix). */
  watchPeer: PacketReaderOptions["watchPeer"];
  /**
   * Bounded busy-reading: when a caller waits and nothing is queued,
   * `readSome` is called until something arrives or the spinner gives up,
   * so a reply that comes within the window skips the event loop's sleep.
   */
  spinner?: Spinner | undefined;
  /** ListenOptions.reuseBatches: large messages, and the transport's read arenas, reuse what released batches gave back. */
  reuseBatches?: boolean | undefined;
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
  private readonly spinner: Spinner | undefined;
  /** Why the kernel object failed; set once by breakAll(). */
  protected broken: ChannelError | undefined;
  /** With reuseBatches: buffers released batches gave back (the transport leases its read arenas here too). */
  protected readonly buffers: BatchBuffers | undefined;

  protected constructor(readonly address: Address, options: PacketReceiverOptions) {
    super();
    this.describe = options.describe;
    this.spinner = options.spinner;
    const buffers = (this.buffers = options.reuseBatches ? new BatchBuffers() : undefined);
    this.core = new ReceiverCore({
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      onPressure: (high) => this.setPaused(high),
      ...(options.spinner ? { spin: () => this.spin() } : {}),
      ...(buffers ? { release: buffers.release } : {}),
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
      watchPeer: options.watchPeer,
      onExit: () => this.pump(),
      buffers,
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

  /** A caller waits on an empty queue: read now, within the spinner's window. */
  private spin(): void {
    if (this.paused || this.broken || this.core.closed) return;
    this.spinner!.spin(this.spinReady);
  }

  /** One look of the spin: one read; true when the caller has its batch (or the channel ended). */
  private readonly spinReady = (): boolean => {
    this.readSome();
    return !this.core.waiting || this.broken !== undefined || this.core.closed;
  };

  /** Reads what the kernel object holds (a few reads at most), then settles exited producers. */
  protected pump(): void {
    this.spinner?.woke();
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
    this.core.fail(error);
  }
}
