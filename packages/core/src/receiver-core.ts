import { ChannelError } from "./errors.js";
import type { Address, Admission, MessageBatch, ProducerCounts, Receiver } from "./interface.js";
import { messageIterator, resultIterator } from "./iterate.js";
import { ProducerTally } from "./producer-tally.js";
import { TURN_MS } from "./turn.js";

// The consumer is behind when more than HIGH_BATCHES batches or HIGH_BYTES
// bytes wait, and has caught up at LOW_BATCHES and LOW_BYTES. Batches bound
// the cost of many small reads, bytes the memory of a few large ones.
const HIGH_BATCHES = 64;
const LOW_BATCHES = 8;
const HIGH_BYTES = 16 * 1024 * 1024;
const LOW_BYTES = 4 * 1024 * 1024;

/** A caller of next() (batch or undefined) or of batches()' next() (an iterator result), waiting. */
interface Waiter {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  result: boolean;
}

const WAIT = Symbol("wait");

/** Bytes the messages of a batch span in its data (O(1): first start to last end). */
function spanOf(batch: MessageBatch): number {
  if (batch.count === 0) return 0;
  const last = 2 * (batch.count - 1);
  return batch.offsets[last]! + batch.offsets[last + 1]! - batch.offsets[0]!;
}

/** A bounded, adaptive busy-wait (posix's AdaptiveSpin): spin(ready) true when ready() came in time. */
export interface Spinner {
  spin(ready: () => boolean): boolean;
  /** The wait a spin gave up to has ended (the event loop delivered): a short one re-arms the spin. */
  woke(): void;
}

export interface ReceiverCoreOptions {
  expectedProducers?: number | undefined;
  onPeerLost?: ((error: ChannelError) => void) | undefined;
  /** Called with true when the consumer falls behind (stop reading), false when it caught up. */
  onPressure?: (high: boolean) => void;
  /** Releases the transport's resources; called once by close(). */
  close: () => Promise<void> | void;
  /**
   * Called when a caller starts waiting on an empty queue, its waiter in
   * place: the transport may read synchronously for a bounded time before
   * the caller yields to the event loop (a batch pushed meanwhile is handed
   * over at once, and `waiting` turns false).
   */
  spin?: () => void;
  /**
   * Called with the batch `batches()` handed out last when its caller asks
   * for the next one (or stops): no one reads its bytes any more, so the
   * transport may reuse them (ListenOptions.reuseBatches). Never called for
   * batches the message iterator took: its messages are the caller's.
   */
  release?: (batch: MessageBatch) => void;
}

/**
 * The bookkeeping every Receiver shares, whatever carries the bytes: a queue
 * of batches with backpressure, producer accounting, end-of-stream, and
 * peer-lost reporting. One promise per batch, none per message.
 */
export class ReceiverCore {
  private queue: Array<MessageBatch | ChannelError> = [];
  private head = 0;
  /** The caller waiting for the next batch, if any. */
  private waiter: Waiter | undefined;
  /** When the current run of requests answered by spin alone began (-1: none); see turn.ts. */
  private spinRunSince = -1;
  private readonly tally: ProducerTally;
  private high = false;
  /** Bytes spanned by the batches waiting in the queue. */
  private bytes = 0;
  private isClosed = false;
  private closing: Promise<void> | undefined;
  /** The batch `batches()` handed out last, released when its caller asks for the next (only with options.release). */
  private lent: MessageBatch | undefined;

  constructor(private readonly options: ReceiverCoreOptions) {
    this.tally = new ProducerTally(options.expectedProducers);
  }

  get counts(): ProducerCounts {
    return this.tally.counts;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** A caller waits for the next batch. */
  get waiting(): boolean {
    return this.waiter !== undefined;
  }

  /** Every producer has finished (closed or lost). */
  get finished(): boolean {
    return this.tally.finished;
  }

  attach(): number {
    return this.tally.attach();
  }

  push(batch: MessageBatch): void {
    if (this.isClosed) return;
    this.queue.push(batch);
    this.bytes += spanOf(batch);
    this.afterPush();
  }

  producerClosed(_producer: number): void {
    this.tally.closed();
    this.wake();
  }

  /**
   * The channel itself is broken (its kernel object failed, or a writer
   * desynchronised a stream every producer shares): once what was queued
   * has been handed out, iteration ends with `error`, handler or not, so a
   * broken channel never looks like a quiet one, and the channel closes.
   */
  fail(error: ChannelError): void {
    if (this.failure || this.isClosed) return;
    this.failure = error;
    this.wake();
  }
  private failure: ChannelError | undefined;

  producerLost(_producer: number, error: ChannelError): void {
    this.tally.lost();
    if (this.isClosed) return;
    this.queue.push(error);
    this.afterPush();
  }

  /**
   * A peer this channel cannot name broke the protocol (on a ring every
   * producer shares, a record in no attached producer's name): its error is
   * reported where a lost producer's is, and no producer is counted as gone.
   */
  peerRejected(error: ChannelError): void {
    if (this.isClosed) return;
    this.queue.push(error);
    this.afterPush();
  }

  private afterPush(): void {
    if (!this.high && (this.queue.length - this.head > HIGH_BATCHES || this.bytes > HIGH_BYTES)) {
      this.high = true;
      this.options.onPressure?.(true);
    }
    this.wake();
  }

  /**
   * Something changed for a waiting caller. A batch is handed to it here and
   * now: its promise settles with the batch itself, one microtask from the
   * transport's callback to the consumer. Anything else (the end, a lost
   * producer, a failure) and a batch that ends backpressure are settled a
   * microtask later, so a peer-lost handler, close() or a transport's resume
   * never run inside the transport's own callback.
   */
  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    if (!this.high && this.head < this.queue.length && !(this.queue[this.head] instanceof ChannelError)) {
      const batch = this.take() as MessageBatch;
      if (w.result) this.lend(batch);
      w.resolve(w.result ? { value: batch, done: false } : batch);
    } else {
      void Promise.resolve().then(() => this.settle(w));
    }
  }

  /** Settles `w` with what take() has, or waits again. */
  private settle(w: Waiter): void {
    let item: MessageBatch | undefined | typeof WAIT;
    try {
      item = this.take();
    } catch (err) {
      return w.reject(err);
    }
    if (item === WAIT) this.waiter = w;
    else {
      if (w.result && item) this.lend(item);
      w.resolve(w.result ? (item ? { value: item, done: false } : { value: undefined, done: true }) : item);
    }
  }

  private lend(batch: MessageBatch): void {
    if (this.options.release) this.lent = batch;
  }

  /** The caller of `batches()` is done with the batch it has. */
  private giveBack(): void {
    const batch = this.lent;
    if (!batch) return;
    this.lent = undefined;
    this.options.release!(batch);
  }

  /**
   * The next batch, undefined at the end, or WAIT when nothing is there yet.
   * Throws a lost producer's error when no handler is set, and the channel's
   * failure once everything queued was handed out.
   */
  private take(): MessageBatch | undefined | typeof WAIT {
    for (;;) {
      if (this.head < this.queue.length) {
        const item = this.queue[this.head]!;
        this.queue[this.head++] = undefined as never;
        if (!(item instanceof ChannelError)) this.bytes -= spanOf(item);
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        if (this.high && this.queue.length - this.head <= LOW_BATCHES && this.bytes <= LOW_BYTES) {
          this.high = false;
          this.options.onPressure?.(false);
        }
        if (item instanceof ChannelError) {
          if (this.options.onPeerLost) {
            this.options.onPeerLost(item);
            continue;
          }
          throw item;
        }
        return item;
      }
      if (this.failure) {
        // Everything queued was handed out: release the kernel object too, so producers get EPEERGONE instead of blocking on it.
        void this.close();
        throw this.failure;
      }
      if (this.isClosed || this.finished) return undefined;
      return WAIT;
    }
  }

  /** Next batch, or undefined at the end. Throws a lost producer's error when no handler is set. */
  next(): Promise<MessageBatch | undefined> {
    return this.request(false) as Promise<MessageBatch | undefined>;
  }

  /** next() as an iterator result, made once: what `batches()` hands out. */
  private nextResult(): Promise<IteratorResult<MessageBatch, undefined>> {
    return this.request(true) as Promise<IteratorResult<MessageBatch, undefined>>;
  }

  private request(result: boolean): Promise<unknown> {
    if (result) this.giveBack();
    let item: MessageBatch | undefined | typeof WAIT;
    try {
      item = this.take();
    } catch (err) {
      return Promise.reject(err);
    }
    if (result && item && item !== WAIT) this.lend(item);
    if (item !== WAIT) return Promise.resolve(result ? (item ? { value: item, done: false } : { value: undefined, done: true }) : item);
    const waiting = new Promise((resolve, reject) => (this.waiter = { resolve, reject, result }));
    if (this.options.spin) {
      // A spin that keeps finding data would deliver in microtasks for ever: past TURN_MS of
      // answers by spin alone, the caller waits for the readiness callback and the event loop turns.
      const now = performance.now();
      if (this.spinRunSince < 0) this.spinRunSince = now;
      if (now - this.spinRunSince < TURN_MS) {
        this.options.spin();
        if (this.waiter === undefined) return waiting;
      }
      this.spinRunSince = -1;
    }
    return waiting;
  }

  batches(): AsyncIterableIterator<MessageBatch> {
    return resultIterator(this.nextResultBound, this.giveBackBound);
  }

  /** The simple path: one Uint8Array per message (a view the caller may keep). */
  messages(): AsyncIterator<Uint8Array> {
    return messageIterator(this.nextBatch, false);
  }

  private readonly nextBatch = () => this.next();
  private readonly nextResultBound = () => this.nextResult();
  private readonly giveBackBound = () => this.giveBack();

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    this.lent = undefined;
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    this.wake();
    this.closing = Promise.resolve().then(() => this.options.close());
    return this.closing;
  }
}

/**
 * The Receiver members that only forward to a ReceiverCore. A transport's
 * receiver extends it and adds admit() and whatever reads the kernel object.
 */
export abstract class CoreReceiver implements Receiver {
  abstract readonly address: Address;
  protected abstract readonly core: ReceiverCore;

  abstract admit(): Promise<Admission>;

  get maxMessageSize(): number {
    return this.address.maxMessageSize;
  }
  get producers(): ProducerCounts {
    return this.core.counts;
  }
  get closed(): boolean {
    return this.core.closed;
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
}
