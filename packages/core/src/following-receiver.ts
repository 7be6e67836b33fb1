import { ChannelError } from "./errors.js";
import type { Address, Admission, MessageBatch, PollingReceiver, ProducerCounts } from "./interface.js";
import { batchIterator, messageIterator } from "./iterate.js";

/** What a FollowingReceiver reads from: posix's FutexFollower, seen through the members it uses. */
export interface BatchFollower {
  readonly counts: ProducerCounts;
  readonly ended: boolean;
  next(): Promise<MessageBatch | undefined>;
  tryNext(): MessageBatch | undefined;
}

/** A batch whose fields a receiver rewrites in place: valid until its next batch. */
export interface MutableBatch {
  count: number;
  data: Uint8Array;
  offsets: Int32Array;
  producer: number;
}

/** Options every FollowingReceiver takes from its transport's listen(). */
export interface FollowingReceiverOptions {
  expectedProducers?: number | undefined;
  onPeerLost?: ((e: ChannelError) => void) | undefined;
  /** Longest busy-wait before sleeping on the futex (µs, default 50); adapts down when it does not pay. */
  spinUs?: number | undefined;
  busyPollMs?: number | undefined;
  /** Removes what the receiver created; called once by close(). */
  cleanup: () => void;
}

/**
 * The Receiver members of a transport whose consumer follows shared memory
 * (shm rings, mmap journals): producers, end of stream, batch and message
 * iteration and polling, all through one follower. The transport supplies
 * the follower, `close()`, and how long a message view lives (`copyMessages`).
 */
export abstract class FollowingReceiver implements PollingReceiver {
  abstract readonly address: Address;
  protected abstract readonly follower: BatchFollower;
  /** The receiver's name in messages: "shm receiver of /ipcs-x". */
  protected abstract describe(): string;
  protected isClosed = false;
  protected closing: Promise<void> | undefined;
  private readonly nextBatch = () => this.next();

  /** Hands a message iterator copies (true) when batch bytes are reused after the next batch. */
  protected constructor(private readonly copyMessages: boolean) {}

  abstract close(): Promise<void>;

  /** Gives the current batch back to its producer now (iterators call it when stopped early). */
  release(): void {}

  get maxMessageSize(): number {
    return this.address.maxMessageSize;
  }
  get producers(): ProducerCounts {
    return this.follower.counts;
  }
  get closed(): boolean {
    return this.isClosed;
  }

  async admit(): Promise<Admission> {
    if (this.isClosed) throw new ChannelError("ECLOSED", `cannot admit a producer: the ${this.describe()} is closed`);
    return { address: this.address, inherit: [], release: () => {} };
  }

  /** Next batch, or undefined once every producer has finished or the receiver closed. */
  next(): Promise<MessageBatch | undefined> {
    return this.follower.next();
  }

  /** See PollingReceiver: the batch published now, or undefined, without a promise. */
  tryReceive(): MessageBatch | undefined {
    return this.follower.tryNext();
  }

  get ended(): boolean {
    return this.follower.ended;
  }

  batches(): AsyncIterableIterator<MessageBatch> {
    return batchIterator(this.nextBatch, () => this.release());
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return messageIterator(this.nextBatch, this.copyMessages, () => this.release());
  }
}
