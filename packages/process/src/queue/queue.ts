import { deserialize, serialize } from "node:v8";
import { ChannelError } from "@ipc-sampler/core";
import { futexWake, publishOwed, publishSoon, spinUntil } from "@ipc-sampler/posix";
import { abortError } from "../errors.js";
import { LOCK_WORDS, LockCore, SPIN_US } from "../sync/lock.js";
import { createBlock, DATA_OFFSET, deadlineOf, HEADER_WORDS, openBlock, remaining, WordWaiter, type Block, type BlockOptions, type SharedHandle } from "../sync/shared.js";

const L = HEADER_WORDS;
const HEAD = L + LOCK_WORDS, TAIL = HEAD + 1, COUNT = HEAD + 2, NOT_EMPTY = HEAD + 3, NOT_FULL = HEAD + 4, UNFINISHED = HEAD + 5, GETTERS = HEAD + 6, PUTTERS = HEAD + 7;
/** The putters' lock; the getters' is at L. */
const PUT_LOCK = PUTTERS + 1;

export interface QueueOptions {
  /** Most items held at once; 0 (default) means 4096, the ring's default size. */
  maxsize?: number;
  /** Largest encoded item in bytes (default 8192); a larger one is EMSGSIZE. */
  itemBytes?: number;
  /**
   * How items are encoded: "v8" (default: structured clone, so Map, Set,
   * Date, BigInt, typed arrays and cycles cross; an item that JSON carries
   * exactly — see `jsonExact` — takes the JSON path all the same) or "json"
   * (plain data only, no check: what JSON.stringify makes of it).
   */
  codec?: "v8" | "json";
}

/** The slot's length word has this bit set when the slot holds JSON text rather than v8 serializer output. */
const JSON_TAG = 0x80000000;

/**
 * True when JSON text round-trips `v` exactly as structured clone would:
 * strings, booleans, null, finite numbers other than -0, dense arrays and
 * objects whose prototype is Object.prototype holding such values, at most
 * `depth` levels deep (cycles fail the depth). Arrays' extra named
 * properties are the one thing it does not look for.
 */
export function jsonExact(v: unknown, depth = 16): boolean {
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v) && !Object.is(v, -0);
    case "object": {
      if (v === null) return true;
      if (depth === 0) return false;
      if (Array.isArray(v)) {
        if (Object.getPrototypeOf(v) !== Array.prototype) return false;
        for (let i = 0; i < v.length; i++) if (!(i in v) || !jsonExact(v[i], depth - 1)) return false;
        return true;
      }
      if (Object.getPrototypeOf(v) !== Object.prototype) return false;
      for (const k in v) if (!jsonExact((v as Record<string, unknown>)[k], depth - 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

function lockOptions(deadline: number, o: BlockOptions): BlockOptions {
  return o.signal ? { timeoutMs: remaining(deadline), signal: o.signal } : { timeoutMs: remaining(deadline) };
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
 * with two robust locks — one for putters (tail), one for getters (head),
 * so the two sides never wait for each other — and two sequence words (not
 * empty, not full) to sleep on. The count is the hand-over point: a put
 * writes its slots, then adds to it; a get reads only slots it counts, and
 * subtracts only after reading. An item is encoded before the lock is
 * taken and copied into its slot while it is held; a get decodes it and
 * only then advances the head, so a consumer that dies before that leaves
 * the item for the next one, and one that dies after it took the item. No feeder thread: an item
 * is in the queue when `put` resolves (or `tryPut`/`putNowait` return).
 * Wake-ups are owed, not sent at once: a process wakes sleepers on the other
 * side once per run of puts (or gets), at the end of the tick or before it
 * spins or sleeps itself, so a producer in a loop pays one futex call per
 * run, not one per item. A process that exits flushes what it owes.
 */
export class Queue<T = unknown> {
  readonly $shared: SharedHandle;
  readonly maxsize: number;
  readonly itemBytes: number;
  readonly #w: Int32Array;
  readonly #bytes: Buffer;
  readonly #stride: number;
  readonly #lock: LockCore;
  readonly #putLock: LockCore;
  readonly #notEmpty: WordWaiter;
  readonly #notFull: WordWaiter;
  protected readonly joinable: boolean;
  #closed = false;
  readonly #json: boolean;
  /** Wake-ups owed to getters (NOT_EMPTY) and putters (NOT_FULL), sent by #flushWakes. */
  #owedGetters = 0;
  #owedPutters = 0;
  #flushQueued = false;
  readonly #flushWakes = (): void => {
    this.#flushQueued = false;
    const w = this.#w;
    if (this.#owedGetters > 0) futexWake(w, NOT_EMPTY, this.#owedGetters);
    if (this.#owedPutters > 0) futexWake(w, NOT_FULL, this.#owedPutters);
    this.#owedGetters = this.#owedPutters = 0;
  };

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
      if (o.codec !== undefined && o.codec !== "v8" && o.codec !== "json") throw new TypeError(`codec must be "v8" or "json"; got ${String(o.codec)}`);
      b = createBlock(joinable ? "joinable-queue" : "queue", [capacity, itemBytes, o.codec === "json" ? 1 : 0], capacity * stride);
    }
    this.$shared = b.handle;
    this.#w = b.words;
    this.maxsize = b.words[2]!;
    this.itemBytes = b.words[3]!;
    this.#json = b.words[4] === 1;
    this.#stride = (4 + this.itemBytes + 7) & ~7;
    if (this.maxsize < 1 || this.itemBytes < 16 || DATA_OFFSET + this.maxsize * this.#stride > b.segment.size) throw new ChannelError("EPROTO", "the queue's segment does not match its shape");
    this.#bytes = b.segment.buffer;
    this.joinable = joinable;
    this.#lock = new LockCore(b.words, L, false);
    this.#putLock = new LockCore(b.words, PUT_LOCK, false);
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
    const one = [this.#encode(item)];
    return this.#putLock.tryAcquire() && this.#putLocked(one, 0) === 1;
  }

  #encode(item: T): Buffer | string {
    if (this.#closed) throw new ChannelError("ECLOSED", "cannot put on the queue: it was closed in this process");
    const encoded = this.#json || jsonExact(item) ? (JSON.stringify(item) ?? "null") : serialize(item);
    const size = typeof encoded === "string" ? (encoded.length * 3 <= this.itemBytes ? 0 : Buffer.byteLength(encoded)) : encoded.length;
    if (size > this.itemBytes) throw new ChannelError("EMSGSIZE", `cannot put on the queue: the item encodes to ${size} bytes, its slots hold ${this.itemBytes}`);
    return encoded;
  }

  /** With the putters' lock held: writes items from `from` while slots are free, releases the lock, wakes getters; returns how many. */
  #putLocked(items: readonly (Buffer | string)[], from: number): number {
    const w = this.#w;
    let n = 0;
    try {
      let tail = w[TAIL]!;
      for (let count = Atomics.load(w, COUNT); from + n < items.length && count + n < this.maxsize; n++) {
        const item = items[from + n]!;
        const at = DATA_OFFSET + tail * this.#stride;
        const len = typeof item === "string" ? this.#bytes.write(item, at + 4, this.itemBytes, "utf8") | JSON_TAG : item.copy(this.#bytes, at + 4);
        this.#bytes.writeUInt32LE(len >>> 0, at);
        tail = tail + 1 === this.maxsize ? 0 : tail + 1;
      }
      w[TAIL] = tail;
      if (this.joinable) Atomics.add(w, UNFINISHED, n);
      Atomics.add(w, COUNT, n);
    } finally {
      this.#putLock.release();
    }
    if (n > 0) {
      Atomics.add(w, NOT_EMPTY, 1);
      if (Atomics.load(w, GETTERS) > 0) this.#owe(n, 0);
    }
    return n;
  }

  /**
   * Counts wake-ups to send at the end of the tick. A sleeper that counted
   * itself after the check above read its sequence word before this run
   * bumped it, so its FUTEX_WAIT returns at once: nothing is lost.
   */
  #owe(getters: number, putters: number): void {
    this.#owedGetters += getters;
    this.#owedPutters += putters;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      publishSoon(this.#flushWakes);
    }
  }

  /** Python's put_nowait: throws Full instead of waiting. */
  putNowait(item: T): void {
    const one = [this.#encode(item)];
    // The lock is held for a copy, never for a wait: a few more tries cover a busy lock.
    for (let i = 0; i < 64 && !this.full(); i++) if (this.#putLock.tryAcquire() && this.#putLocked(one, 0) === 1) return;
    throw new Full(false);
  }

  put(item: T, o: BlockOptions = {}): Promise<void> {
    return this.putMany([item], o);
  }

  /**
   * Puts every item, in order, as many per lock hold as there are free
   * slots: one encode per item, one lock and at most one wake-up per run.
   * On a timeout or abort, the items before the one that did not fit are in the queue.
   */
  async putMany(items: readonly T[], o: BlockOptions = {}): Promise<void> {
    const encoded = items.map((x) => this.#encode(x));
    const w = this.#w, deadline = deadlineOf(o);
    for (let done = 0; done < encoded.length; ) {
      const seq = Atomics.load(w, NOT_FULL);
      if (!(await this.#putLock.acquire(lockOptions(deadline, o)))) throw new Full(true);
      done += this.#putLocked(encoded, done);
      if (done === encoded.length) return;
      if (o.block === false) throw new Full(false);
      publishOwed();
      // No spin here, unlike a getter on an empty queue: a full queue says the
      // consumers are the slower side, and a producer spinning for room takes
      // the CPU they need to make it; it sleeps until a get wakes it.
      await this.#sleep(this.#notFull, PUTTERS, seq, deadline, o, "put");
    }
  }

  /** Sleeps on a sequence word; throws Full/Empty on timeout and AbortError on abort, passing on a wake-up it may have taken. */
  async #sleep(waiter: WordWaiter, counter: number, seq: number, deadline: number, o: BlockOptions, what: "put" | "get"): Promise<void> {
    const w = this.#w;
    Atomics.add(w, counter, 1);
    const r = await waiter.wait(seq, remaining(deadline), o.signal);
    Atomics.sub(w, counter, 1);
    if (r === "woken") return;
    futexWake(w, waiter.index, 1);
    if (r === "aborted") throw abortError(what, o.signal?.reason);
    throw what === "put" ? new Full(true) : new Empty(true);
  }

  /** One attempt without waiting or a promise: `undefined` marks "nothing taken" in `out.ok`. */
  tryGet(out: { ok: boolean }): T | undefined {
    out.ok = false;
    if (Atomics.load(this.#w, COUNT) === 0 || !this.#lock.tryAcquire()) return undefined;
    const got = this.#takeLocked(1, []);
    out.ok = got.length === 1;
    return got[0];
  }

  /** With the getters' lock held: moves up to `max` items into `into`, releases the lock, wakes putters. */
  #takeLocked(max: number, into: T[]): T[] {
    const w = this.#w;
    let n = 0;
    try {
      let head = w[HEAD]!;
      for (const count = Atomics.load(w, COUNT); n < max && n < count; n++) {
        const at = DATA_OFFSET + head * this.#stride;
        const word = this.#bytes.readUInt32LE(at);
        const len = word & ~JSON_TAG;
        let item: T;
        try {
          if (len > this.itemBytes) throw new ChannelError("EPROTO", `the queue's slot ${head} claims ${len} bytes, more than a slot holds`);
          item = (this.#json || word & JSON_TAG ? JSON.parse(this.#bytes.toString("utf8", at + 4, at + 4 + len)) : deserialize(this.#bytes.subarray(at + 4, at + 4 + len))) as T;
        } catch (err) {
          // Items already taken are returned; an undecodable item is consumed by the call that reports it.
          if (n > 0) break;
          w[HEAD] = head + 1 === this.maxsize ? 0 : head + 1;
          Atomics.sub(w, COUNT, 1);
          n = 1;
          throw new ChannelError("EPROTO", "cannot decode the queue's next item", { cause: err });
        }
        into.push(item);
        head = head + 1 === this.maxsize ? 0 : head + 1;
        w[HEAD] = head;
        Atomics.sub(w, COUNT, 1);
      }
    } finally {
      this.#lock.release();
      if (n > 0) {
        Atomics.add(w, NOT_FULL, 1);
        if (Atomics.load(w, PUTTERS) > 0) this.#owe(0, n);
      }
    }
    return into;
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
    return (await this.getMany(1, o))[0]!;
  }

  /** Waits for at least one item (as `get` does), then takes up to `max` under one lock hold. */
  async getMany(max: number, o: BlockOptions = {}): Promise<T[]> {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer; got ${max}`);
    const w = this.#w, deadline = deadlineOf(o);
    for (;;) {
      const seq = Atomics.load(w, NOT_EMPTY);
      if (Atomics.load(w, COUNT) > 0) {
        if (!(await this.#lock.acquire(lockOptions(deadline, o)))) throw new Empty(true);
        const got = this.#takeLocked(max, []);
        if (got.length > 0) return got;
      }
      if (o.block === false) throw new Empty(false);
      publishOwed();
      if (spinUntil(() => Atomics.load(w, COUNT) > 0, SPIN_US)) continue;
      await this.#sleep(this.#notEmpty, GETTERS, seq, deadline, o, "get");
    }
  }

  /** No more puts from this process; waiter threads stop. Items already put stay for the consumers. */
  close(): void {
    this.#closed = true;
    this.#flushWakes();
    this.#notEmpty.close();
    this.#notFull.close();
    this.#lock.close();
    this.#putLock.close();
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
