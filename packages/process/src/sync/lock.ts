import { ChannelError } from "@ipc-sampler/core";
import { futexWake, spinUntil, watchProcessExit, type ProcessExitWatch } from "@ipc-sampler/posix";
import { abortError } from "../errors.js";
import { checkIntact, createBlock, deadlineOf, HEADER_WORDS, holderGone, openBlock, remaining, selfIdentity, WordWaiter, type Block, type BlockOptions, type Identity, type SharedHandle } from "./shared.js";

/** Words of a lock inside a block, from `base`: state, holder pid, start, pid ns, recursion, owner-died flag. */
export const LOCK_WORDS = 8;
/** How long a waiter spins before it sleeps, in microseconds (the cost of one futex wake-up here). */
export const SPIN_US = 30;
const S = 0, P = 1, T = 2, N = 3, C = 4, D = 5;

/**
 * A mutex on a shared word (Drepper's three-state futex mutex: 0 free, 1
 * held, 2 held with sleepers). The holder writes its identity next to the
 * word; a waiter watches that process through a pidfd, and when it exits
 * while holding, frees the lock (like a robust mutex's EOWNERDEAD) and sets
 * `ownerDied` on whoever takes it next.
 */
export class LockCore {
  readonly #w: Int32Array;
  readonly #b: number;
  readonly #waiter: WordWaiter;
  #watch: ProcessExitWatch | undefined;
  #watched = 0;
  ownerDied = false;

  constructor(words: Int32Array, base: number, readonly recursive: boolean) {
    this.#w = words;
    this.#b = base;
    this.#waiter = new WordWaiter(words, base + S);
  }

  #own(): void {
    const w = this.#w, b = this.#b, me = selfIdentity();
    w[b + T] = me.start;
    w[b + N] = me.ns;
    Atomics.store(w, b + P, me.pid);
    w[b + C] = 1;
    this.ownerDied = Atomics.exchange(w, b + D, 0) === 1;
  }

  isMine(): boolean {
    const w = this.#w, b = this.#b, me = selfIdentity();
    return Atomics.load(w, b + S) !== 0 && Atomics.load(w, b + P) === me.pid && w[b + T] === me.start && w[b + N] === me.ns;
  }

  get locked(): boolean {
    return Atomics.load(this.#w, this.#b + S) !== 0;
  }

  /** One attempt, synchronous. */
  tryAcquire(): boolean {
    const w = this.#w, b = this.#b;
    if (this.recursive && this.isMine()) {
      w[b + C]!++;
      return true;
    }
    if (Atomics.compareExchange(w, b + S, 0, 1) !== 0) return false;
    checkIntact(w);
    this.#own();
    return true;
  }

  async acquire(o: BlockOptions = {}): Promise<boolean> {
    if (this.tryAcquire()) return true;
    if (o.block === false) return false;
    // Held for a few instructions as a rule: a short spin costs less than a sleep and a wake-up.
    if (spinUntil(() => this.tryAcquire(), SPIN_US)) return true;
    const w = this.#w, b = this.#b, deadline = deadlineOf(o);
    let c = Atomics.compareExchange(w, b + S, 0, 2);
    while (c !== 0) {
      if (c === 2 || Atomics.compareExchange(w, b + S, 1, 2) !== 0) {
        this.#watchHolder();
        const r = await this.#waiter.wait(2, remaining(deadline), o.signal);
        if (r !== "woken" || performance.now() > deadline) {
          // This wait may have taken a wake-up meant for the lock: pass it on.
          futexWake(w, b + S, 1);
          if (r === "aborted") throw abortError("acquire", o.signal?.reason);
          if (Atomics.compareExchange(w, b + S, 0, 2) === 0) break;
          return false;
        }
      }
      c = Atomics.compareExchange(w, b + S, 0, 2);
    }
    checkIntact(w);
    this.#own();
    return true;
  }

  /** Releases one level; `all` releases every level of a recursive hold and returns how many there were. */
  release(all = false): number {
    const w = this.#w, b = this.#b;
    checkIntact(w);
    if (Atomics.load(w, b + S) === 0) throw new ChannelError("EPERM", "cannot release the lock: it is not held");
    if (this.recursive) {
      if (!this.isMine()) throw new ChannelError("EPERM", "cannot release the recursive lock: this process does not hold it");
      const depth = w[b + C]!;
      if (!all && depth > 1) {
        w[b + C] = depth - 1;
        return 1;
      }
      this.#free();
      return depth;
    }
    this.#free();
    return 1;
  }

  #free(): void {
    const w = this.#w, b = this.#b;
    w[b + C] = 0;
    Atomics.store(w, b + P, 0);
    if (Atomics.sub(w, b + S, 1) !== 1) {
      Atomics.store(w, b + S, 0);
      futexWake(w, b + S, 1);
    }
  }

  /** Takes a recursive hold back at the depth `release(true)` returned. */
  async restore(depth: number, o: BlockOptions = {}): Promise<void> {
    await this.acquire({ signal: o.signal });
    this.#w[this.#b + C] = depth;
  }

  /** While sleeping, watch the holder: when it exits holding the lock, free the lock. */
  #watchHolder(): void {
    const w = this.#w, b = this.#b;
    const pid = Atomics.load(w, b + P);
    if (pid <= 0 || pid === this.#watched) return;
    const holder: Identity = { pid, start: w[b + T]!, ns: w[b + N]! };
    this.#watch?.close();
    this.#watched = pid;
    if (holder.ns !== selfIdentity().ns) return;
    const check = () => {
      this.#watch?.close();
      this.#watch = undefined;
      this.#watched = 0;
      if (holderGone(holder)) this.recover(holder);
    };
    this.#watch = watchProcessExit(pid, check);
  }

  /** Frees the lock if `holder` still holds it and has gone; true when it did. */
  recover(holder: Identity): boolean {
    const w = this.#w, b = this.#b;
    if (w[b + T] !== holder.start || w[b + N] !== holder.ns) return false;
    if (Atomics.compareExchange(w, b + P, holder.pid, 0) !== holder.pid) return false;
    w[b + C] = 0;
    Atomics.store(w, b + D, 1);
    Atomics.store(w, b + S, 0);
    futexWake(w, b + S);
    return true;
  }

  close(): void {
    this.#watch?.close();
    this.#watch = undefined;
    this.#waiter.close();
  }
}

/** Shared surface of Lock and RLock, also taken by Condition and Value. */
export abstract class LockLike {
  /** What crosses to another process: `Lock.from()` there re-opens the same lock. */
  readonly $shared: SharedHandle;
  readonly #core: LockCore;

  protected constructor(block: Block, recursive: boolean) {
    this.$shared = block.handle;
    this.#core = new LockCore(block.words, HEADER_WORDS, recursive);
  }

  /** Waits for the lock; false when `block: false` or `timeoutMs` ran out first. Rejects with AbortError on `signal`. */
  acquire(o: BlockOptions = {}): Promise<boolean> {
    return this.#core.acquire(o);
  }
  /** One synchronous attempt, no promise. */
  tryAcquire(): boolean {
    return this.#core.tryAcquire();
  }
  release(): void {
    this.#core.release();
  }
  /** Runs `fn` holding the lock (Python's `with lock:`). */
  async withLock<T>(fn: () => T | Promise<T>, o: BlockOptions = {}): Promise<T> {
    if (!(await this.#core.acquire(o))) throw new ChannelError("ETIMEDOUT", "cannot take the lock: the wait timed out");
    try {
      return await fn();
    } finally {
      this.#core.release();
    }
  }
  get locked(): boolean {
    return this.#core.locked;
  }
  /** True when the last acquire in this process took the lock from a holder that had died holding it. */
  get ownerDied(): boolean {
    return this.#core.ownerDied;
  }
  /** @internal */
  get lockCore(): LockCore {
    return this.#core;
  }
  /** Stops this process's waiter thread; the lock itself lives until its creator exits. */
  close(): void {
    this.#core.close();
  }
}

/** multiprocessing.Lock: any process may release it. */
export class Lock extends LockLike {
  constructor(block?: Block) {
    super(block ?? createBlock("lock", [], 64), false);
  }
  /** Re-opens a lock from the handle it became in this process (or returns the lock itself). */
  static from(value: unknown): Lock {
    return value instanceof Lock ? value : new Lock(openBlock(value, "lock"));
  }
}

/** multiprocessing.RLock: re-entrant per process (not per async task), released only by its holder. */
export class RLock extends LockLike {
  constructor(block?: Block) {
    super(block ?? createBlock("rlock", [], 64), true);
  }
  /** Also takes the handle of a Value or SharedArray's own lock (what `getLock()` returned in the other process). */
  static from(value: unknown): RLock {
    return value instanceof RLock ? value : new RLock(ownLockBlock(openBlock(value, ["rlock", "value", "array"])));
  }
}

/** A Value or SharedArray made with its own lock keeps it in its header, where an RLock's words are. */
function ownLockBlock(block: Block): Block {
  if (block.handle.kind !== "rlock" && block.words[4] !== 1) throw new TypeError(`this shared ${block.handle.kind} was made without a lock of its own`);
  return block;
}

/** Lock or RLock from a handle, whichever it names. */
export function openLock(value: unknown): Lock | RLock {
  if (value instanceof LockLike) return value as Lock | RLock;
  const block = openBlock(value, ["lock", "rlock", "value", "array"]);
  return block.handle.kind === "lock" ? new Lock(block) : new RLock(ownLockBlock(block));
}
