import { deserialize, serialize } from "node:v8";
import { ChannelError } from "@ipc-sampler/core";
import { futexWake, spinUntil } from "@ipc-sampler/posix";
import { abortError } from "../errors.js";
import { LOCK_WORDS, LockCore, SPIN_US } from "../sync/lock.js";
import { createBlock, DATA_OFFSET, deadlineOf, HEADER_WORDS, openBlock, remaining, WordWaiter, type Block, type BlockOptions, type SharedHandle } from "../sync/shared.js";

const L = HEADER_WORDS;
const HEAD = L + LOCK_WORDS, TAIL = HEAD + 1, COUNT = HEAD + 2, NOT_EMPTY = HEAD + 3, NOT_FULL = HEAD + 4, UNFINISHED = HEAD + 5, GETTERS = HEAD + 6, PUTTERS = HEAD + 7;

export interface QueueOptions {
  /** Most items held at once; 0 (default) means 4096, the ring's default size. */
  maxsize?: number;
  /** Largest encoded item in bytes (default 8192); a larger one is EMSGSIZE. */
  itemBytes?: number;
}

/** queue.Empty / queue.Full: code ETIMEDOUT after a timed wait, EBUSY for `block: false`. */
export class Empty extends ChannelError {
  constructor(timed: boolean) {
    super(timed ? "ETIMEDOUT" : "EBUSY", timed ? "cannot get from the queue: it stayed empty until the timeout" : "cannot get from the queue: it is empty");
    Object.defineProperty(this, "name", { value: "Empty" });
  }
}
export class Full extends ChannelError {
  constructor(timed: boolean) {
    super(timed ? "ETIMEDOUT" : "EBUSY", timed ? "cannot put on the queue: it stayed full until the timeout" : "cannot put on the queue: it is full");
    Object.defineProperty(this, "name", { value: "Full" });
  }
}

/**
 * multiprocessing.Queue as a ring of fixed-size slots in one shared segment,
 * guarded by a robust lock, with two sequence words (not empty, not full)
 * to sleep on. An item is v8-serialised into its slot while the lock is
 * held; a get copies it out and only then advances the head, so a consumer
 * that dies before that leaves the item for the next one, and one that dies
 * after it took the item. No feeder thread: `put` is done when it resolves.
 */
export class Queue<T = unknown> {
  readonly $shared: SharedHandle;
  readonly maxsize: number;
  readonly itemBytes: number;
  readonly #w: Int32Array;
  readonly #bytes: Buffer;
  readonly #stride: number;
  readonly #lock: LockCore;
  readonly #notEmpty: WordWaiter;
  readonly #notFull: WordWaiter;
  protected readonly joinable: boolean;
  #closed = false;

  constructor(o: QueueOptions = {}, block?: Block) {
    const joinable = new.target === JoinableQueue;
    let b = block;
    if (!b) {
      const cap = o.maxsize ?? 0;
      const itemBytes = o.itemBytes ?? 8192;
      if (!Number.isInteger(cap) || cap < 0 || cap > 1 << 20) throw new RangeError(`maxsize must be an integer from 0 to 2^20; got ${cap}`);
      if (!Number.isInteger(itemBytes) || itemBytes < 16 || itemBytes > 1 << 24) throw new RangeError(`itemBytes must be an integer from 16 to 2^24; got ${itemBytes}`);
      const capacity = cap === 0 ? 4096 : cap;
      const stride = (4 + itemBytes + 7) & ~7;
      if (capacity * stride > 1 << 30) throw new RangeError("maxsize × itemBytes must stay under 1 GiB");
      b = createBlock(joinable ? "joinable-queue" : "queue", [capacity, itemBytes], capacity * stride);
    }
    this.$shared = b.handle;
    this.#w = b.words;
    this.maxsize = b.words[2]!;
    this.itemBytes = b.words[3]!;
    this.#stride = (4 + this.itemBytes + 7) & ~7;
    if (this.maxsize < 1 || this.itemBytes < 16 || DATA_OFFSET + this.maxsize * this.#stride > b.segment.size) throw new ChannelError("EPROTO", "the queue's segment does not match its shape");
    this.#bytes = b.segment.buffer;
    this.joinable = joinable;
    this.#lock = new LockCore(b.words, L, false);
    this.#notEmpty = new WordWaiter(b.words, NOT_EMPTY);
    this.#notFull = new WordWaiter(b.words, NOT_FULL);
  }

  static from<T = unknown>(value: unknown): Queue<T> {
    if (value instanceof Queue) return value as Queue<T>;
    const b = openBlock(value, ["queue", "joinable-queue"]);
    return b.handle.kind === "joinable-queue" ? new JoinableQueue<T>({}, b) : new Queue<T>({}, b);
  }

  /** Items in the queue now (exact across processes, unlike Python's approximation). */
  qsize(): number {
    return Atomics.load(this.#w, COUNT);
  }
  empty(): boolean {
    return this.qsize() === 0;
  }
  full(): boolean {
    return this.qsize() >= this.maxsize;
  }

  /** One attempt without waiting or a promise: false when the queue is full or its lock busy. */
  tryPut(item: T): boolean {
    if (this.#closed) throw new ChannelError("ECLOSED", "cannot put on the queue: it was closed in this process");
    const bytes = serialize(item);
    if (bytes.length > this.itemBytes) throw new ChannelError("EMSGSIZE", `cannot put on the queue: the item encodes to ${bytes.length} bytes, its slots hold ${this.itemBytes}`);
    if (!this.#lock.tryAcquire()) return false;
    return this.#putLocked(bytes);
  }

  #putLocked(bytes: Buffer): boolean {
    const w = this.#w;
    try {
      if (w[COUNT]! >= this.maxsize) return false;
      const tail = w[TAIL]!;
      const at = DATA_OFFSET + tail * this.#stride;
      this.#bytes.writeUInt32LE(bytes.length, at);
      bytes.copy(this.#bytes, at + 4);
      w[TAIL] = tail + 1 === this.maxsize ? 0 : tail + 1;
      if (this.joinable) Atomics.add(w, UNFINISHED, 1);
      Atomics.add(w, COUNT, 1);
    } finally {
      this.#lock.release();
    }
    Atomics.add(w, NOT_EMPTY, 1);
    if (Atomics.load(w, GETTERS) > 0) futexWake(w, NOT_EMPTY, 1);
    return true;
  }

  /** Python's put_nowait: throws Full instead of waiting. */
  putNowait(item: T): void {
    if (!this.tryPut(item)) {
      if (this.full()) throw new Full(false);
      // Only the lock was busy: it is held for a copy, never for a wait.
      if (!this.#spinPut(item)) throw new Full(false);
    }
  }

  #spinPut(item: T): boolean {
    for (let i = 0; i < 64; i++) if (this.tryPut(item)) return true;
    return false;
  }

  async put(item: T, o: BlockOptions = {}): Promise<void> {
    if (this.#closed) throw new ChannelError("ECLOSED", "cannot put on the queue: it was closed in this process");
    const bytes = serialize(item);
    if (bytes.length > this.itemBytes) throw new ChannelError("EMSGSIZE", `cannot put on the queue: the item encodes to ${bytes.length} bytes, its slots hold ${this.itemBytes}`);
    const w = this.#w, deadline = deadlineOf(o);
    for (;;) {
      const seq = Atomics.load(w, NOT_FULL);
      if (!(await this.#lock.acquire({ timeoutMs: remaining(deadline), ...(o.signal ? { signal: o.signal } : {}) }))) throw new Full(true);
      if (this.#putLocked(bytes)) return;
      if (o.block === false) throw new Full(false);
      if (spinUntil(() => Atomics.load(w, COUNT) < this.maxsize, SPIN_US)) continue;
      Atomics.add(w, PUTTERS, 1);
      const r = await this.#notFull.wait(seq, remaining(deadline), o.signal);
      Atomics.sub(w, PUTTERS, 1);
      if (r !== "woken") {
        futexWake(w, NOT_FULL, 1);
        if (r === "aborted") throw abortError("put", o.signal?.reason);
        throw new Full(true);
      }
    }
  }

  /** One attempt without waiting or a promise: `undefined` marks "nothing taken" in `out.ok`. */
  tryGet(out: { ok: boolean }): T | undefined {
    out.ok = false;
    if (Atomics.load(this.#w, COUNT) === 0 || !this.#lock.tryAcquire()) return undefined;
    return this.#getLocked(out);
  }

  #getLocked(out: { ok: boolean }): T | undefined {
    const w = this.#w;
    let item: T | undefined;
    try {
      if (w[COUNT] === 0) return undefined;
      const head = w[HEAD]!;
      const at = DATA_OFFSET + head * this.#stride;
      const len = this.#bytes.readUInt32LE(at);
      if (len > this.itemBytes) throw new ChannelError("EPROTO", `the queue's slot ${head} claims ${len} bytes, more than a slot holds`);
      item = deserialize(this.#bytes.subarray(at + 4, at + 4 + len)) as T;
      w[HEAD] = head + 1 === this.maxsize ? 0 : head + 1;
      Atomics.sub(w, COUNT, 1);
      out.ok = true;
    } finally {
      this.#lock.release();
    }
    Atomics.add(w, NOT_FULL, 1);
    if (Atomics.load(w, PUTTERS) > 0) futexWake(w, NOT_FULL, 1);
    return item;
  }

  /** Python's get_nowait: throws Empty instead of waiting. */
  getNowait(): T {
    const out = { ok: false };
    for (let i = 0; i < 64 && this.qsize() > 0; i++) {
      const v = this.tryGet(out);
      if (out.ok) return v as T;
    }
    throw new Empty(false);
  }

  async get(o: BlockOptions = {}): Promise<T> {
    const w = this.#w, deadline = deadlineOf(o), out = { ok: false };
    for (;;) {
      const seq = Atomics.load(w, NOT_EMPTY);
      if (Atomics.load(w, COUNT) > 0) {
        if (!(await this.#lock.acquire({ timeoutMs: remaining(deadline), ...(o.signal ? { signal: o.signal } : {}) }))) throw new Empty(true);
        const v = this.#getLocked(out);
        if (out.ok) return v as T;
      }
      if (o.block === false) throw new Empty(false);
      if (spinUntil(() => Atomics.load(w, COUNT) > 0, SPIN_US)) continue;
      Atomics.add(w, GETTERS, 1);
      const r = await this.#notEmpty.wait(seq, remaining(deadline), o.signal);
      Atomics.sub(w, GETTERS, 1);
      if (r !== "woken") {
        futexWake(w, NOT_EMPTY, 1);
        if (r === "aborted") throw abortError("get", o.signal?.reason);
        throw new Empty(true);
      }
    }
  }

  /** No more puts from this process; waiter threads stop. Items already put stay for the consumers. */
  close(): void {
    this.#closed = true;
    this.#notEmpty.close();
    this.#notFull.close();
    this.#lock.close();
  }

  /** Python's join_thread: puts here are complete when they resolve, so there is nothing to flush. */
  async joinThread(): Promise<void> {}

  /** @internal */
  protected get words(): Int32Array {
    return this.#w;
  }
}

/** multiprocessing.JoinableQueue: every put counts an unfinished task until a consumer calls `taskDone()`. */
export class JoinableQueue<T = unknown> extends Queue<T> {
  #joiner: WordWaiter | undefined;

  static override from<T = unknown>(value: unknown): JoinableQueue<T> {
    return value instanceof JoinableQueue ? (value as JoinableQueue<T>) : new JoinableQueue<T>({}, openBlock(value, "joinable-queue"));
  }

  taskDone(): void {
    const w = this.words;
    for (;;) {
      const n = Atomics.load(w, UNFINISHED);
      if (n <= 0) throw new ChannelError("EPERM", "taskDone() called more times than there were items");
      if (Atomics.compareExchange(w, UNFINISHED, n, n - 1) === n) {
        if (n === 1) futexWake(w, UNFINISHED);
        return;
      }
    }
  }

  /** Resolves when every item put so far has had its `taskDone()`. */
  async join(o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const w = this.words, deadline = deadlineOf(o);
    this.#joiner ??= new WordWaiter(w, UNFINISHED);
    for (let n = Atomics.load(w, UNFINISHED); n !== 0; n = Atomics.load(w, UNFINISHED)) {
      const r = await this.#joiner.wait(n, remaining(deadline), o.signal);
      if (r === "aborted") throw abortError("join", o.signal?.reason);
      if (r === "timed-out") throw new ChannelError("ETIMEDOUT", "cannot join the queue: tasks were still unfinished at the timeout");
    }
  }

  override close(): void {
    super.close();
    this.#joiner?.close();
  }
}
