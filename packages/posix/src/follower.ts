import { cpus } from "node:os";
import { ChannelError, ProducerTally, TURN_MS, nextTurn, type ProducerCounts } from "@ipc-sampler/core";
import type { SpinRead } from "@ipc-sampler/core/stream";
import { FutexWaiter, futexWake } from "./futex.js";
import { readNonBlocking } from "./poll.js";
import { truncations } from "./segment.js";

/**
 * Publications this process owes its peers: senders batch a tick's writes
 * into one publication, and a follower in this process publishes them
 * before it spins or sleeps, so a request written just before awaiting its
 * reply is visible to the peer while we wait, not a microtask later.
 */
const owed: Array<() => void> = [];
let owedQueued = false;
let exitHooked = false;

/** Runs every publication this process owes now (the end-of-tick one then finds none). */
export function publishOwed(): void {
  owedQueued = false;
  // A publication may schedule another (a sender that fails closes others): take turns until none is left.
  for (let i = 0; i < owed.length; i++) owed[i]!();
  owed.length = 0;
}

/**
 * Schedules `publish` at the end of this tick, or sooner, when a follower in
 * this process is about to spin or sleep. The caller keeps its own
 * "scheduled" flag so that it asks once per batch.
 */
export function publishSoon(publish: () => void): void {
  owed.push(publish);
  if (!exitHooked) {
    // process.exit() runs no more microtasks: what is owed goes out on the way.
    exitHooked = true;
    process.once("exit", () => {
      try {
        publishOwed();
      } catch {
        // exiting: a publication that fails now has no one left to tell
      }
    });
  }
  if (!owedQueued) {
    owedQueued = true;
    queueMicrotask(publishOwed);
  }
}

/** Spinning only pays when the peer can run at the same time: never on a one-CPU machine. */
const CAN_SPIN = cpus().length > 1;
/**
 * A gap this long (ms) between two looks at the clock while spinning means
 * the spinner was descheduled: on a peer that shares its CPU, the awaited
 * state only comes once the scheduler preempts the spinner to run the peer.
 */
const PREEMPTED_MS = 0.03;
/** The most quick wakes a follower lets pass between two spins that keep failing (same-CPU peers). */
const MAX_BACKOFF = 1024;

/**
 * Busy-waits up to `us` microseconds for `ready()`. Short and bounded: it
 * covers the gap a sleeping wake-up would cost (tens of microseconds on a
 * VM), never more.
 */
export function spinUntil(ready: () => boolean, us: number): boolean {
  if (us <= 0) return ready();
  const deadline = performance.now() + us / 1000;
  for (let i = 0; ; i++) {
    if (ready()) return true;
    if ((i & 31) === 31 && performance.now() > deadline) return false;
  }
}

/**
 * The bounded adaptive spin of a waiter that would otherwise sleep: spin up
 * to `max` µs (default 50, 0 on a one-CPU machine) for the awaited state.
 * A whole window that fails says the peer could not run meanwhile (it
 * shares our CPU, or it was busy): the budget halves down to 0, and the next
 * full window waits for twice as many quick wakes (up to 1024), so peers
 * that share one CPU spin about once per thousand waits; one that pays
 * resets the backoff. An idle waiter spins about twice the window in all,
 * then only sleeps.
 */
export class AdaptiveSpin {
  readonly max: number;
  private budget: number;
  /** Quick wakes to let pass before spinning again; doubles each time a whole window fails. */
  private backoff = 1;
  private untilSpin = 0;
  /** When the last spin gave up (performance.now()), until woke(); 0 otherwise. */
  private gaveUpAt = 0;

  constructor(maxUs?: number) {
    this.max = maxUs ?? (CAN_SPIN ? 50 : 0);
    this.budget = this.max;
  }

  /** The window the next spin gets (µs): `max` after a spin that paid, less after each that did not. */
  get window(): number {
    return this.budget;
  }

  /** Spins for `ready()` within the current budget; true when it came. */
  spin(ready: () => boolean): boolean {
    if (this.budget <= 0) {
      this.gaveUpAt = performance.now();
      return false;
    }
    const deadline = performance.now() + this.budget / 1000;
    let came = false;
    let preempted = false;
    for (let i = 0, last = performance.now(); ; i++) {
      if (ready()) {
        // There at the first look: no spin happened, so nothing was learnt.
        if (i === 0) return true;
        came = true;
        break;
      }
      if ((i & 7) === 7) {
        const now = performance.now();
        if (now - last > PREEMPTED_MS) preempted = true;
        if (now > deadline) break;
        last = now;
      }
    }
    if (came && !preempted) {
      this.budget = this.max;
      this.backoff = 1;
      return true;
    }
    // A whole window that failed, or one that only "paid" because the peer ran on our CPU meanwhile.
    if (this.budget === this.max) this.backoff = Math.min(MAX_BACKOFF, this.backoff * 2);
    this.budget = this.budget >= 4 ? this.budget / 2 : 0;
    if (!came) this.gaveUpAt = performance.now();
    return came;
  }

  /** The wait the last failed spin gave up to has ended: slept() with its length. */
  woke(): void {
    if (this.gaveUpAt === 0) return;
    this.slept(performance.now() - this.gaveUpAt);
    this.gaveUpAt = 0;
  }

  /**
   * After a sleep that lasted `ms`: a wake that came within twice the window
   * (the wake-up itself costs tens of microseconds) means spinning might have
   * paid: once the backoff allows, the next spin gets the whole window.
   */
  slept(ms: number): void {
    if (ms * 1000 < this.max * 2 && this.budget < this.max && --this.untilSpin <= 0) {
      this.budget = this.max;
      this.untilSpin = this.backoff;
    }
  }
}

/**
 * A stream receiver's `spin` option: non-blocking read(2)s of its
 * descriptors while a caller waits, within an AdaptiveSpin window of `maxUs`
 * (default 50); undefined when it would never spin (0, or one CPU).
 */
export function readSpin(maxUs?: number): SpinRead | undefined {
  const spinner = spinnerFor(maxUs);
  return spinner ? { tryRead: readNonBlocking, spinner } : undefined;
}

/** An AdaptiveSpin of `maxUs` (default 50) for a receiver's `spinner` option; undefined when it would never spin. */
export function spinnerFor(maxUs?: number): AdaptiveSpin | undefined {
  const spinner = new AdaptiveSpin(maxUs);
  return spinner.max > 0 ? spinner : undefined;
}

/**
 * The producer's half of the doorbell: after publishing, wakes the follower
 * only if it announced that it sleeps (one atomic load otherwise). Bumps the
 * doorbell word first, so a follower about to wait on the old value does not.
 */
export function ringDoorbell(words: Int32Array, sleepingIndex: number, doorbellIndex: number): void {
  if (Atomics.load(words, sleepingIndex) !== 0) {
    Atomics.add(words, doorbellIndex, 1);
    futexWake(words, doorbellIndex, 1);
  }
}

/** What a follower reads: a transport's view of its producers in shared memory. */
export interface FollowedProducers<B> {
  /** Takes what is published from the next producer that has some, without waiting. */
  tryBatch(): B | undefined;
  /** Notices producers that attached, closed or died; `checkLiveness`: also ask whether their processes live. */
  scan(checkLiveness: boolean): void;
  /** Something to take or to notice (cheap: it is the spin loop's probe). */
  pending(): boolean;
  /** Some producer is attached or attaching: sleep in liveness slices rather than without deadline. */
  watching(): boolean;
  /**
   * Asked when a mapping of this process was found truncated (see
   * MappedSegment.truncated): the error that ends the channel if one of its
   * shared mappings was, else undefined (a producer's own mapping may be
   * dropped with producerLost instead).
   */
  truncated?(): ChannelError | undefined;
}

export interface FutexFollowerOptions {
  /** The mapping that holds both words. */
  words: Int32Array;
  /** Index of the follower's "sleeping" flag, which producers check before FUTEX_WAKE (see ringDoorbell). */
  sleepingIndex: number;
  /** Index of the doorbell futex word producers bump and wake. */
  doorbellIndex: number;
  /** Longest busy-wait before sleeping (µs; default 50, 0 on a one-CPU machine); adapts down when it does not pay. */
  spinUs?: number | undefined;
  /**
   * Busy-poll (opt-in): while a batch arrived within the last `busyPollMs`
   * milliseconds, the follower never sleeps: it spins `spinUs` without
   * adapting, then yields to the event loop and spins again. Costs a whole
   * CPU while traffic flows and answers in the time a cache line takes to
   * move; once idle that long it sleeps as usual (default 0: off).
   */
  busyPollMs?: number | undefined;
  /** How often producers' liveness is checked, and the longest sleep while one is attached (ms, default 200). */
  livenessMs?: number | undefined;
  /** How many producers to wait for; without it, the follow ends once every producer that attached has finished. */
  expectedProducers?: number | undefined;
  /** Receives a lost producer's error; without it, next() throws the error. */
  onPeerLost?: ((error: ChannelError) => void) | undefined;
}

/**
 * The consumer loop of a single-consumer shared-memory channel whose
 * producers publish without a system call: take what is published; when
 * nothing is, spin briefly (adaptive budget), then set the sleeping flag,
 * re-check, and wait on the doorbell futex on a dedicated thread, in slices
 * that double as producer-liveness checks. It also keeps the producer
 * accounting (as ReceiverCore does for receivers that are pushed to). Idle,
 * it uses no CPU; busy, it costs one promise per batch and allocates nothing
 * per message.
 */
export class FutexFollower<B> {
  private readonly spin: AdaptiveSpin;
  private readonly busyPollMs: number;
  private lastBatch = 0;
  /** When the event loop last turned under this follower (it awaited a wake-up or an immediate); see core turn.ts. */
  private turnedAt = performance.now();
  private readonly livenessMs: number;
  private lastLiveness = 0;
  private waiter: FutexWaiter | undefined;
  private pendingErrors: ChannelError[] = [];
  private busy = false;
  private isClosed = false;
  private readonly tally: ProducerTally;
  private readonly probe: () => boolean;
  private seenTruncations = truncations();
  private broken: ChannelError | undefined;

  constructor(
    private readonly producers: FollowedProducers<B>,
    private readonly options: FutexFollowerOptions,
  ) {
    this.tally = new ProducerTally(options.expectedProducers);
    this.spin = new AdaptiveSpin(options.spinUs);
    this.busyPollMs = options.busyPollMs ?? 0;
    this.livenessMs = options.livenessMs ?? 200;
    this.probe = () => producers.pending();
  }

  get counts(): ProducerCounts {
    return this.tally.counts;
  }

  /** Every producer has finished (closed or lost). */
  get finished(): boolean {
    return this.tally.finished;
  }

  /** Counts a producer that attached; returns its number. */
  attach(): number {
    return this.tally.attach();
  }

  producerClosed(): void {
    this.tally.closed();
  }

  /** Counts a producer that died and queues its error for next() to report. */
  producerLost(error: ChannelError): void {
    this.tally.lost();
    this.pendingErrors.push(error);
  }

  private scan(force: boolean): void {
    const check = force || performance.now() - this.lastLiveness > this.livenessMs;
    if (check) this.lastLiveness = performance.now();
    this.producers.scan(check);
  }

  /**
   * Throws once a mapping of the channel was found truncated (a peer shrank
   * its file): the batch in hand may hold zeros, so it is not delivered.
   * One load while nothing was truncated anywhere in this process.
   */
  private checkIntact(): void {
    if (this.broken) throw this.broken;
    const n = truncations();
    if (n === this.seenTruncations) return;
    this.seenTruncations = n;
    this.broken = this.producers.truncated?.();
    if (this.broken) throw this.broken;
  }

  /** Next batch, or undefined once every producer has finished or the follower closed. */
  async next(): Promise<B | undefined> {
    if (this.busy) throw new ChannelError("EBUSY", "cannot start a second batches() or iteration: one consumer at a time");
    this.busy = true;
    const producers = this.producers;
    try {
      for (;;) {
        if (this.isClosed) return undefined;
        // A ring its producers refill as fast as it is read would keep this loop in microtasks for ever.
        if (performance.now() - this.turnedAt >= TURN_MS) {
          await nextTurn();
          this.turnedAt = performance.now();
          if (this.isClosed) return undefined;
        }
        const b = producers.tryBatch();
        this.checkIntact();
        if (b) {
          const now = performance.now();
          this.lastBatch = now;
          if (now - this.lastLiveness > this.livenessMs) this.scan(true);
          return b;
        }
        this.scan(false);
        const err = this.pendingErrors.shift();
        if (err) {
          if (this.options.onPeerLost) {
            this.options.onPeerLost(err);
            continue;
          }
          throw err;
        }
        if (this.finished) return undefined;
        if (producers.pending()) continue;
        await this.sleep();
      }
    } finally {
      this.busy = false;
    }
  }

  /**
   * The batch published now, or undefined; never waits. Publishes what this
   * process owes first, so a request written just before is visible to the
   * peer that answers it. Reports a lost producer as next() does.
   */
  tryNext(): B | undefined {
    if (this.busy) throw new ChannelError("EBUSY", "cannot poll for a batch while batches() or iteration is waiting for one: one consumer at a time");
    if (this.isClosed) return undefined;
    publishOwed();
    const b = this.producers.tryBatch();
    this.checkIntact();
    if (b) {
      this.lastBatch = performance.now();
      if (this.lastBatch - this.lastLiveness > this.livenessMs) this.scan(true);
      return b;
    }
    this.scan(false);
    const err = this.pendingErrors.shift();
    if (err) {
      if (!this.options.onPeerLost) throw err;
      this.options.onPeerLost(err);
    }
    return undefined;
  }

  /** Closed, or every producer finished and nothing is left to take. */
  get ended(): boolean {
    return this.isClosed || (this.finished && this.pendingErrors.length === 0 && !this.producers.pending());
  }

  private async sleep(): Promise<void> {
    const { words, sleepingIndex, doorbellIndex } = this.options;
    // What this process wrote is published before it waits: a reply depends on it.
    publishOwed();
    if (this.busyPollMs > 0 && performance.now() - this.lastBatch < this.busyPollMs) {
      if (spinUntil(this.probe, this.spin.max)) return;
      await nextTurn();
      this.turnedAt = performance.now();
      return;
    }
    // Spin first: a sleeping wake-up costs tens of microseconds on this kind of machine.
    if (this.spin.spin(this.probe)) return;
    Atomics.store(words, sleepingIndex, 1);
    const seq = Atomics.load(words, doorbellIndex);
    if (this.producers.pending()) {
      Atomics.store(words, sleepingIndex, 0);
      return;
    }
    // The stores above may have found the mapping truncated: waiting on it would never end.
    this.checkIntact();
    this.waiter ??= new FutexWaiter(words, doorbellIndex);
    const started = performance.now();
    await this.waiter.wait(seq, this.producers.watching() ? this.livenessMs : -1);
    this.turnedAt = performance.now();
    Atomics.store(words, sleepingIndex, 0);
    this.spin.slept(performance.now() - started);
    this.scan(true);
  }

  /** Ends the loop: a pending next() resolves undefined; the waiter's thread stops. */
  close(): void {
    this.isClosed = true;
    this.waiter?.close();
  }
}
