import { ChannelError } from "@ipc-sampler/core";
import { futexWake, watchProcessExit, type ProcessExitWatch } from "@ipc-sampler/posix";
import { abortError } from "../errors.js";
import { createBlock, deadlineOf, HEADER_WORDS, holderGone, openBlock, remaining, selfIdentity, WordWaiter, type Block, type Identity, type SharedHandle } from "./shared.js";

/** Python's threading.BrokenBarrierError. */
export class BrokenBarrierError extends ChannelError {
  constructor(message = "the barrier is broken") {
    super("EPEERGONE", message);
    Object.defineProperty(this, "name", { value: "BrokenBarrierError" });
  }
}

/**
 * The barrier's words, from HEADER_WORDS:
 *
 *   COUNT        parties arrived in this generation
 *   GEN          generation, with BROKEN (bit 30) while broken
 *   DEAD         pid of the party whose death broke it (0: none)
 *   then MEMBERS slots of SLOT words, one per process that opened the barrier:
 *     STATE      0 free, 1 being written, 2 in use
 *     PID, START, NS   its identity (see shared.ts: a reused pid is told apart)
 *     ARRIVED    the generation it last arrived in (GEN & ~BROKEN), -1 never
 */
const COUNT = HEADER_WORDS, GEN = COUNT + 1, DEAD = COUNT + 2, TABLE = COUNT + 4;
const STATE = 0, PID = 1, START = 2, NS = 3, ARRIVED = 4, SLOT = 5;
const MEMBERS = 64;
const BROKEN = 0x40000000;

export interface BarrierOptions {
  /** Default timeout of `wait` (ms); a wait that times out breaks the barrier. */
  timeoutMs?: number;
  /**
   * Run by the party that arrives last, before any party is released (each
   * process gives its own: functions do not cross). If it throws, the barrier
   * breaks and that party's wait rejects with its error.
   */
  action?: () => unknown;
}

/**
 * multiprocessing.Barrier: an arrival count and a generation word. The last
 * of `parties` runs the action, bumps the generation and wakes everyone; a
 * timeout or `abort()` sets the broken bit, which wakes every sleeper into
 * BrokenBarrierError. Every process that opens the barrier (from a handle it
 * was given) and every one that waits on it is a member: a member that exits
 * without having arrived in the current generation breaks the barrier for
 * the waiters, who watch the members through pidfds while they sleep.
 */
export class Barrier {
  readonly $shared: SharedHandle;
  readonly parties: number;
  readonly #w: Int32Array;
  readonly #waiter: WordWaiter;
  readonly #timeoutMs: number | undefined;
  readonly #action: (() => unknown) | undefined;
  #slot = -1;

  constructor(parties: number, o: BarrierOptions = {}, block?: Block) {
    if (!block && (!Number.isInteger(parties) || parties < 1 || parties > 0xffff)) throw new RangeError(`parties must be an integer from 1 to 65535; got ${parties}`);
    if (o.action !== undefined && typeof o.action !== "function") throw new TypeError("action must be a function");
    const b = block ?? createBlock("barrier", [parties], (TABLE - HEADER_WORDS + MEMBERS * SLOT) * 4);
    this.$shared = b.handle;
    this.parties = b.words[2]!;
    this.#w = b.words;
    this.#timeoutMs = o.timeoutMs;
    this.#action = o.action;
    this.#waiter = new WordWaiter(b.words, GEN);
    if (!block) for (let s = 0; s < MEMBERS; s++) b.words[TABLE + s * SLOT + ARRIVED] = -1;
  }

  /** The barrier in another process; that process becomes a member (its death before arriving breaks the barrier). */
  static from(value: unknown, o: BarrierOptions = {}): Barrier {
    if (value instanceof Barrier) return value;
    const block = openBlock(value, "barrier");
    if (block.words.length < TABLE + MEMBERS * SLOT) throw new ChannelError("EPROTO", `cannot open ${block.segment.path}: it is too small for a barrier`, { resource: block.segment.path });
    const b = new Barrier(0, o, block);
    b.#join();
    return b;
  }

  get broken(): boolean {
    return (Atomics.load(this.#w, GEN) & BROKEN) !== 0;
  }

  /** How many parties are waiting now. */
  get nWaiting(): number {
    return Atomics.load(this.#w, COUNT);
  }

  /** Takes a member slot for this process (once); past MEMBERS processes, the rest are not watched. */
  #join(): void {
    if (this.#slot >= 0) return;
    const w = this.#w, me = selfIdentity();
    for (let s = 0; s < MEMBERS; s++) {
      const at = TABLE + s * SLOT;
      if (Atomics.load(w, at + STATE) === 2 && w[at + PID] === me.pid && w[at + START] === me.start && w[at + NS] === me.ns) return void (this.#slot = s);
    }
    for (let s = 0; s < MEMBERS; s++) {
      const at = TABLE + s * SLOT;
      if (Atomics.compareExchange(w, at + STATE, 0, 1) !== 0) continue;
      w[at + PID] = me.pid;
      w[at + START] = me.start;
      w[at + NS] = me.ns;
      Atomics.store(w, at + ARRIVED, -1);
      Atomics.store(w, at + STATE, 2);
      this.#slot = s;
      return;
    }
  }

  /** Members that are gone without having arrived in generation `gen`: their slots are freed, the first one's pid returned. */
  #deadMember(gen: number): number {
    const w = this.#w;
    let dead = 0;
    for (let s = 0; s < MEMBERS; s++) {
      const at = TABLE + s * SLOT;
      if (s === this.#slot || Atomics.load(w, at + STATE) !== 2) continue;
      const id: Identity = { pid: w[at + PID]!, start: w[at + START]!, ns: w[at + NS]! };
      if (!holderGone(id)) continue;
      if (Atomics.load(w, at + ARRIVED) !== gen) dead ||= id.pid;
      Atomics.compareExchange(w, at + STATE, 2, 0);
    }
    return dead;
  }

  #breakFor(pid: number): void {
    Atomics.compareExchange(this.#w, DEAD, 0, pid);
    this.abort();
  }

  #brokenError(): BrokenBarrierError {
    const pid = Atomics.load(this.#w, DEAD);
    return new BrokenBarrierError(pid > 0 ? `the barrier is broken: party pid ${pid} exited before arriving` : undefined);
  }

  /** Resolves with this party's arrival index (0 … parties-1) when all have arrived. */
  async wait(o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<number> {
    const w = this.#w;
    this.#join();
    const gen = Atomics.load(w, GEN);
    if (gen & BROKEN) throw this.#brokenError();
    const dead = this.#deadMember(gen);
    if (dead) {
      this.#breakFor(dead);
      throw this.#brokenError();
    }
    if (this.#slot >= 0) Atomics.store(w, TABLE + this.#slot * SLOT + ARRIVED, gen);
    const index = Atomics.add(w, COUNT, 1);
    if (index + 1 === this.parties) {
      if (this.#action) {
        try {
          await this.#action();
        } catch (err) {
          this.abort();
          throw err;
        }
      }
      Atomics.store(w, COUNT, 0);
      // Unless broken meanwhile (a waiter's timeout during the action).
      if (Atomics.compareExchange(w, GEN, gen, (gen + 1) & ~BROKEN) !== gen) throw this.#brokenError();
      futexWake(w, GEN);
      return index;
    }
    const deadline = deadlineOf({ timeoutMs: o.timeoutMs ?? this.#timeoutMs });
    const watches = this.#watchMembers(gen);
    try {
      for (;;) {
        const now = Atomics.load(w, GEN);
        if (now & BROKEN) throw this.#brokenError();
        if (now !== gen) return index;
        const r = await this.#waiter.wait(gen, remaining(deadline), o.signal);
        if (r !== "woken" || performance.now() > deadline) {
          if (Atomics.load(w, GEN) === gen) this.abort();
          else if (!(Atomics.load(w, GEN) & BROKEN)) return index;
          if (r === "aborted") throw abortError("wait", o.signal?.reason);
          throw r === "timed-out" ? new BrokenBarrierError("the barrier broke: a party's wait timed out") : this.#brokenError();
        }
      }
    } finally {
      for (const x of watches) x.close();
    }
  }

  /** While sleeping: a pidfd per member that has not arrived; the first to exit breaks the barrier. */
  #watchMembers(gen: number): ProcessExitWatch[] {
    const w = this.#w, me = selfIdentity();
    const out: ProcessExitWatch[] = [];
    for (let s = 0; s < MEMBERS; s++) {
      const at = TABLE + s * SLOT;
      if (s === this.#slot || Atomics.load(w, at + STATE) !== 2 || Atomics.load(w, at + ARRIVED) === gen || w[at + NS] !== me.ns) continue;
      try {
        out.push(
          watchProcessExit(w[at + PID]!, () => {
            if (Atomics.load(w, GEN) !== gen) return;
            const dead = this.#deadMember(gen);
            if (dead) this.#breakFor(dead);
          }),
        );
      } catch {
        // cannot watch it: a timeout still ends the wait
      }
    }
    return out;
  }

  /** Breaks the barrier: every waiter, now and later, gets BrokenBarrierError until `reset()`. */
  abort(): void {
    Atomics.or(this.#w, GEN, BROKEN);
    futexWake(this.#w, GEN);
  }

  /** Back to the empty state; waiters of the current generation get BrokenBarrierError. */
  reset(): void {
    const w = this.#w;
    Atomics.store(w, COUNT, 0);
    Atomics.store(w, DEAD, 0);
    const g = Atomics.or(w, GEN, BROKEN);
    futexWake(w, GEN);
    Atomics.store(w, GEN, (g + 1) & ~BROKEN);
  }

  close(): void {
    this.#waiter.close();
  }
}
