import type { ChannelError } from "./errors.js";
import type { Sender } from "./interface.js";
import { messageTooLarge, senderClosed } from "./send.js";
import { TURN_MS, nextTurn } from "./turn.js";

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface SenderBaseOptions {
  maxMessageSize: number;
  /** Names the channel in error messages: "/tmp/x.fifo", "journal /tmp/j". */
  target: string;
  /** The kernel object's name, for ChannelError's `resource` (default: `target`). */
  resource?: string;
  /** The verb of error messages: "send" (default) or "append". */
  verb?: string;
}

/**
 * What every Sender shares, whatever carries its bytes: the failure that
 * ended it (set once, reported by every later call), the closing state,
 * `drain()` waiters and the send/close skeleton. A transport supplies its
 * data path: `write`, `belowHighWater` (and `flushPending`) for `drain`,
 * `finish` for `close`, and `onFailure` / `release` for its handles.
 *
 * `write` starts with `admit(length)`; the rest of the hot path is the
 * transport's own, so nothing here allocates per message.
 */
export abstract class SenderBase implements Sender {
  readonly maxMessageSize: number;
  /** Names the channel in error messages. */
  protected readonly target: string;
  /** The kernel object's name. */
  readonly resource: string;
  private readonly verb: string;
  /** Why this sender failed; set once. */
  protected failure: ChannelError | undefined;
  private closing: Promise<void> | undefined;
  /** close() was called; set before `finish()` runs, so its synchronous part sees it too. */
  private closeCalled = false;
  private isClosed = false;
  private released = false;
  private waiters: Waiter[] = [];
  /** When this sender last let the event loop turn in send()/drain(); see turn.ts. */
  private turnedAt = performance.now();

  protected constructor(options: SenderBaseOptions) {
    this.maxMessageSize = options.maxMessageSize;
    this.target = options.target;
    this.resource = options.resource ?? options.target;
    this.verb = options.verb ?? "send";
  }

  abstract write(message: Uint8Array): boolean;

  /** The transport's close path: sends what is queued and its goodbye; settles once it was delivered or failed. */
  protected abstract finish(): Promise<void>;

  /** Queued bytes are at or below the high-water mark: `drain()` may resolve. */
  protected belowHighWater(): boolean {
    return true;
  }

  /** Hands what `write` buffered to the kernel object; `drain()` calls it first. */
  protected flushPending(): void {}

  /** Called once by `fail()`, after the waiters were rejected. */
  protected onFailure(_err: ChannelError): void {}

  /** Closes the transport's handles; called once, when `close()` ends (either way), or by `releaseOnce()`. */
  protected release(): void {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** `close()` was called (it may still be running). */
  protected get closeStarted(): boolean {
    return this.closeCalled;
  }

  /** `write`'s first step: throws what ended the sender, ECLOSED, or EMSGSIZE for `length` over the limit. */
  protected admit(length: number): void {
    if (this.failure) throw this.failure;
    if (this.closeCalled) throw senderClosed(this.target, this.resource, `${this.verb} to`);
    if (length > this.maxMessageSize) throw messageTooLarge(length, this.maxMessageSize, this.target, this.resource, this.verb);
  }

  /** Fails the sender (once, and not after it was released): waiting calls and every later one reject with `err`. */
  protected fail(err: ChannelError): void {
    if (this.failure || this.released) return;
    this.failure = err;
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.reject(err);
    this.onFailure(err);
  }

  /** Resolves the waiting `drain()` calls once `belowHighWater()`; the data path calls it when room appears. */
  protected wake(): void {
    if (this.waiters.length === 0 || !this.belowHighWater()) return;
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.resolve();
  }

  /** Settles at the next `wake()` (resolve) or `fail()` (reject). */
  protected nextWake(): Promise<void> {
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Resolves once `idle()` holds, checked after each wake and a turn of the loop; rejects on a failure. */
  protected async whenIdle(idle: () => boolean): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (idle()) return;
      await this.nextWake();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Calls `release()` unless it ran already. */
  protected releaseOnce(): void {
    if (this.released) return;
    this.released = true;
    this.release();
  }

  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.flushPending();
    if (this.failure) return Promise.reject(this.failure);
    if (this.belowHighWater()) return this.settled();
    return this.nextWake();
  }

  send(message: Uint8Array): Promise<void> {
    try {
      return this.write(message) ? this.settled() : this.drain();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * What a send() or drain() that need not wait returns: resolved, or after
   * one turn of the event loop once TURN_MS passed without one. A caller that
   * awaits every send() of a channel that keeps taking messages (a queue
   * another thread empties, a ring another CPU reads) would otherwise loop in
   * microtasks and stop its process's timers and I/O.
   */
  protected settled(): Promise<void> {
    const now = performance.now();
    if (now - this.turnedAt < TURN_MS) return Promise.resolve();
    this.turnedAt = now;
    return nextTurn();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closeCalled = true;
    if (this.failure) {
      this.isClosed = true;
      this.releaseOnce();
      this.closing = Promise.reject(this.failure);
      return this.closing;
    }
    this.closing = this.finish().then(
      () => {
        this.isClosed = true;
        this.releaseOnce();
      },
      (err: unknown) => {
        this.isClosed = true;
        this.releaseOnce();
        throw err;
      },
    );
    return this.closing;
  }
}
