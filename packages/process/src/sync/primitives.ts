import { ChannelError } from "@ipc-sampler/core";
import { AdaptiveSpin, futexWake, publishOwed } from "@ipc-sampler/posix";
import { abortError } from "../errors.js";
import { openLock, RLock, type Lock } from "./lock.js";
import { createBlock, deadlineOf, HEADER_WORDS, openBlock, remaining, WordWaiter, type Block, type BlockOptions, type SharedHandle } from "./shared.js";

const W = HEADER_WORDS;

/**
 * multiprocessing.Event: a flag on a shared word. `wait` spins briefly (the
 * shm follower's adaptive budget: a quick hand-off answers in about a
 * microsecond, an idle or same-CPU wait soon stops spinning), then sleeps
 * in FUTEX_WAIT until it is set.
 */
export class Event {
  readonly $shared: SharedHandle;
  readonly #w: Int32Array;
  readonly #waiter: WordWaiter;
  readonly #spin = new AdaptiveSpin();
  readonly #isSet = () => Atomics.load(this.#w, W) === 1;

  constructor(block?: Block) {
    const b = block ?? createBlock("event", [], 64);
    this.$shared = b.handle;
    this.#w = b.words;
    this.#waiter = new WordWaiter(b.words, W);
  }
  static from(value: unknown): Event {
    return value instanceof Event ? value : new Event(openBlock(value, "event"));
  }
  isSet(): boolean {
    return Atomics.load(this.#w, W) === 1;
  }
  set(): void {
    if (Atomics.exchange(this.#w, W, 1) === 0) futexWake(this.#w, W);
  }
  clear(): void {
    Atomics.store(this.#w, W, 0);
  }
  /** Resolves true once the flag is set, false if `timeoutMs` ran out first. */
  async wait(o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
    if (this.#isSet()) return true;
    if (o.timeoutMs !== 0 && !o.signal?.aborted) {
      publishOwed();
      if (this.#spin.spin(this.#isSet)) return true;
    }
    const deadline = deadlineOf(o);
    while (Atomics.load(this.#w, W) === 0) {
      const started = performance.now();
      const r = await this.#waiter.wait(0, remaining(deadline), o.signal);
      this.#spin.slept(performance.now() - started);
      if (r === "aborted") throw abortError("wait", o.signal?.reason);
      if (r === "timed-out" || performance.now() > deadline) return this.isSet();
    }
    return true;
  }
  close(): void {
    this.#waiter.close();
  }
}

/** multiprocessing.Semaphore: a counter on a shared word and a count of sleepers, so release costs no system call when nobody waits. */
export class Semaphore {
  readonly $shared: SharedHandle;
  readonly #w: Int32Array;
  readonly #waiter: WordWaiter;
  readonly #max: number;

  constructor(value = 1, block?: Block) {
    if (!block && (!Number.isInteger(value) || value < 0 || value > 0x3fffffff)) throw new RangeError(`semaphore value must be an integer from 0 to 2^30-1; got ${value}`);
    const b = block ?? createBlock(new.target === BoundedSemaphore ? "bounded-semaphore" : "semaphore", [value], 64);
    this.$shared = b.handle;
    this.#w = b.words;
    this.#max = b.words[2]!;
    if (!block) Atomics.store(b.words, W, value);
    this.#waiter = new WordWaiter(b.words, W);
  }
  static from(value: unknown): Semaphore {
    if (value instanceof Semaphore) return value;
    const b = openBlock(value, ["semaphore", "bounded-semaphore"]);
    return b.handle.kind === "bounded-semaphore" ? new BoundedSemaphore(0, b) : new Semaphore(0, b);
  }
  /** The current count (Python's get_value). */
  getValue(): number {
    return Atomics.load(this.#w, W);
  }
  tryAcquire(): boolean {
    const w = this.#w;
    for (let v = Atomics.load(w, W); v > 0; v = Atomics.load(w, W)) {
      if (Atomics.compareExchange(w, W, v, v - 1) === v) return true;
    }
    return false;
  }
  async acquire(o: BlockOptions = {}): Promise<boolean> {
    if (this.tryAcquire()) return true;
    if (o.block === false) return false;
    const w = this.#w, deadline = deadlineOf(o);
    for (;;) {
      Atomics.add(w, W + 1, 1);
      const r = await this.#waiter.wait(0, remaining(deadline), o.signal);
      Atomics.sub(w, W + 1, 1);
      if (this.tryAcquire()) return true;
      if (r !== "woken" || performance.now() > deadline) {
        futexWake(w, W, 1); // pass on a wake-up this wait may have taken
        if (r === "aborted") throw abortError("acquire", o.signal?.reason);
        return false;
      }
    }
  }
  release(n = 1): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`release count must be a positive integer; got ${n}`);
    const w = this.#w;
    if (this instanceof BoundedSemaphore) {
      for (;;) {
        const v = Atomics.load(w, W);
        if (v + n > this.#max) throw new ChannelError("ELIMIT", `cannot release the bounded semaphore: it would exceed its initial value ${this.#max}`);
        if (Atomics.compareExchange(w, W, v, v + n) === v) break;
      }
    } else {
      Atomics.add(w, W, n);
    }
    if (Atomics.load(w, W + 1) > 0) futexWake(w, W, n);
  }
  async withLock<T>(fn: () => T | Promise<T>, o: BlockOptions = {}): Promise<T> {
    if (!(await this.acquire(o))) throw new ChannelError("ETIMEDOUT", "cannot acquire the semaphore: the wait timed out");
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
  close(): void {
    this.#waiter.close();
  }
}

/** multiprocessing.BoundedSemaphore: releasing past the initial value is an error (ELIMIT). */
export class BoundedSemaphore extends Semaphore {}

/**
 * multiprocessing.Condition over a Lock or RLock (a new RLock by default).
 * `wait` releases the lock, sleeps on a shared sequence word that every
 * notify bumps, and takes the lock back. A wait can end without a notify
 * meant for it (a notify racing with its start): loop on the predicate, or
 * use `waitFor`.
 */
export class Condition {
  readonly $shared: SharedHandle;
  readonly lock: Lock | RLock;
  readonly #w: Int32Array;
  readonly #waiter: WordWaiter;

  constructor(lock?: Lock | RLock, block?: Block) {
    this.lock = lock ?? new RLock();
    const b = block ?? createBlock("condition", [], 64, this.lock.$shared);
    this.$shared = b.handle;
    this.#w = b.words;
    this.#waiter = new WordWaiter(b.words, W);
  }
  static from(value: unknown): Condition {
    if (value instanceof Condition) return value;
    const b = openBlock(value, "condition");
    if (!b.handle.lock) throw new TypeError("the condition's handle names no lock");
    return new Condition(openLock({ $shared: b.handle.lock }), b);
  }
  acquire(o: BlockOptions = {}): Promise<boolean> {
    return this.lock.acquire(o);
  }
  release(): void {
    this.lock.release();
  }
  /** Releases the lock, waits for a notify (or the timeout), re-takes the lock; false on timeout. */
  async wait(o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
    const core = this.lock.lockCore;
    if (!core.locked || (core.recursive && !core.isMine())) throw new ChannelError("EPERM", "cannot wait on the condition: its lock is not held");
    const seq = Atomics.load(this.#w, W);
    const depth = core.release(true);
    let r: string;
    try {
      r = await this.#waiter.wait(seq, o.timeoutMs ?? -1, o.signal);
    } finally {
      await core.restore(depth);
    }
    if (r === "aborted") throw abortError("wait", o.signal?.reason);
    return r === "woken";
  }
  /** Waits until `predicate()` is true (checked holding the lock); returns its last value. */
  async waitFor<T>(predicate: () => T, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const deadline = deadlineOf(o);
    let v = predicate();
    while (!v) {
      const left = remaining(deadline);
      if (left === 0) break;
      await this.wait({ timeoutMs: left, ...(o.signal ? { signal: o.signal } : {}) });
      v = predicate();
    }
    return v;
  }
  notify(n = 1): void {
    Atomics.add(this.#w, W, 1);
    futexWake(this.#w, W, n);
  }
  notifyAll(): void {
    Atomics.add(this.#w, W, 1);
    futexWake(this.#w, W);
  }
  close(): void {
    this.#waiter.close();
    this.lock.close();
  }
}
