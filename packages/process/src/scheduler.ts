import { EventEmitter } from "node:events";
import { ChannelError } from "@ipc-sampler/core";
import { abortError, closedError, decodeError, exitCodeOf, timedOut, WorkerLostError } from "./errors.js";
import { spawnChild, type Exit, type SpawnOptions, type WorkerHandle } from "./spawn.js";
import { Samples, type PoolStats } from "./stats.js";
import * as W from "./wire.js";
import { Call, DONE, Job, QUEUED, SENT, Slot, type CallOptions } from "./job.js";

export { Call, type CallOptions } from "./job.js";

const AHEAD_MS = 4;

/**
 * The pool's engine: a queue of jobs (one message each: a single call or a
 * chunk of a map), worker processes each holding up to `prefetch` of them,
 * and what happens when a job is aborted or a worker dies. A worker runs its
 * jobs in the order received, so the first job it holds is the one running:
 * when it dies that job fails (WorkerLostError) and the others go back to the
 * front of the queue. One callback per job settles it; no promise per job.
 */
export interface SchedulerOptions extends Omit<SpawnOptions, "name" | "daemon" | "init"> {
  processes: number;
  init: W.Init;
  maxTasksPerChild?: number | undefined;
  maxLifetimeMs?: number | undefined;
  maxRssBytes?: number | undefined;
  maxQueue?: number | undefined;
  prefetch?: number | undefined;
  graceMs?: number | undefined;
  namePrefix?: string | undefined;
}

export class Scheduler extends EventEmitter {
  private readonly slots: Slot[] = [];
  private queue: Array<Job | undefined> = [];
  private head = 0;
  private queued = 0;
  private nextId = 1;
  private workerCount = 0;
  private startFailures = 0;
  state: "run" | "close" | "terminate" = "run";
  private joined: Promise<void> | undefined;
  private resolveJoined: (() => void) | undefined;
  private readonly started = performance.now();
  private busyTotal = 0;
  private readonly counts = { submitted: 0, completed: 0, failed: 0, aborted: 0, crashed: 0, recycled: 0 };
  private readonly waitMs = new Samples();
  private readonly runMs = new Samples();
  private readonly transportMs = new Samples();
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly options: SchedulerOptions) {
    super();
  }

  /** Starts every worker; rejects with the first one's error (and stops the others). */
  async start(): Promise<void> {
    const results = await Promise.allSettled(Array.from({ length: this.options.processes }, () => this.startWorker(false)));
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (failed) {
      await this.terminate();
      throw failed.reason;
    }
  }

  private startWorker(replace: boolean): Promise<void> {
    const slot = new Slot(`${this.options.namePrefix ?? "PoolWorker"}-${++this.workerCount}`);
    this.slots.push(slot);
    const { processes: _p, maxTasksPerChild: _m, maxLifetimeMs: _l, maxRssBytes: _r, maxQueue: _q, prefetch: _f, graceMs: _g, ...spawn } = this.options;
    return spawnChild({ ...spawn, init: this.init, name: slot.name, daemon: true }, (m) => this.onMessage(slot, m)).then(
      (spawned) => {
        this.startFailures = 0;
        this.adopt(slot, spawned);
      },
      (err: unknown) => {
        this.slots.splice(this.slots.indexOf(slot), 1);
        if (!replace) throw err;
        // A replacement that cannot start: try again, but after three in a
        // row fail what waits rather than spin.
        if (++this.startFailures >= 3) this.failQueued(err);
        else if (this.state === "run") void this.startWorker(true);
        this.checkJoined();
      },
    );
  }

  private adopt(slot: Slot, handle: WorkerHandle): void {
    slot.spawned = handle;
    void handle.exited.then((exit) => this.onExit(slot, exit));
    if (this.state !== "run") this.shutDown(slot);
    this.dispatch();
  }

  /**
   * A worker that is ready already (one on another host): it takes tasks
   * like the others; when it ends, its tasks fail or go back to the queue as
   * a dead local worker's do, and no replacement starts. Returns the handler
   * for its messages (from before it is ready) and the call that adds it.
   */
  attach(name: string): { onMessage: (m: unknown[]) => void; adopt: (handle: WorkerHandle) => void } {
    const slot = new Slot(name);
    return {
      onMessage: (m) => this.onMessage(slot, m),
      adopt: (handle) => {
        this.slots.push(slot);
        this.adopt(slot, handle);
      },
    };
  }

  /** The options a worker's INIT carries. */
  get init(): W.Init {
    return { ...this.options.init, reportRss: this.options.maxRssBytes !== undefined };
  }

  submit(fn: W.FunctionRef, mode: W.TaskMode, payload: unknown, call: Call, settle: (error: unknown, value?: unknown) => void): Job {
    if (this.state !== "run") throw closedError("this pool");
    const max = this.options.maxQueue;
    if (max !== undefined && this.queued >= max) throw new ChannelError("ELIMIT", `cannot queue ${call.label}: ${this.queued} tasks already wait (maxQueue ${max})`);
    const job = new Job(this.nextId++, fn, mode, payload, call, settle);
    call.live.add(job);
    job.queuedAt = performance.now();
    this.queue.push(job);
    this.queued++;
    this.counts.submitted++;
    if (call.options.signal?.aborted) this.abort(job, abortError(call.label, call.options.signal.reason));
    return job;
  }

  private finish(job: Job, error: unknown, value?: unknown): void {
    if (job.state === DONE) return;
    if (job.state === QUEUED) this.queued--;
    job.state = DONE;
    if (job.timer) clearTimeout(job.timer);
    job.call.settled(job);
    if (error === undefined) this.counts.completed++;
    else this.counts.failed++;
    job.settle(error, value);
    if (this.drainWaiters.length > 0) this.checkDrained();
  }

  /** Resolves when a task can be queued again (fewer than maxQueue wait), or, without maxQueue, when nothing is queued or running. */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.checkDrained();
    });
  }

  private checkDrained(): void {
    const max = this.options.maxQueue;
    const room = this.state !== "run" || (max !== undefined ? this.queued < max : this.queued === 0 && this.slots.every((s) => s.inflight.length === 0));
    if (!room) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /** Stops one job: dropped if queued, else asked to stop, then its worker is SIGTERMed, then SIGKILLed. */
  abort(job: Job, error: unknown): void {
    if (job.state === DONE) return;
    const wasSent = job.state === SENT;
    this.counts.aborted++;
    this.finish(job, error);
    const slot = job.worker;
    if (!wasSent || !slot?.spawned) return;
    try {
      slot.spawned.link.write([W.ABORT, job.id]);
    } catch {
      // the worker is going away anyway
    }
    if (slot.inflight[0] !== job || slot.stopping) return;
    slot.stopping = job;
    const grace = this.options.graceMs ?? 1000;
    slot.timers.push(
      setTimeout(() => {
        slot.spawned?.kill("SIGTERM");
        slot.timers.push(setTimeout(() => slot.spawned?.kill("SIGKILL"), grace));
      }, grace),
    );
  }

  /** Drops a queued job (true), or tells that it had already gone to a worker (false). */
  cancel(job: Job, error: unknown): boolean {
    if (job.state !== QUEUED) return false;
    this.finish(job, error);
    return true;
  }

  /**
   * Jobs a worker may hold: enough to cover about AHEAD_MS of its work, so
   * tiny jobs are not bound by the round trip, but never more than a few long
   * ones (which would leave other workers idle at the end).
   */
  private limit(s: Slot): number {
    return this.options.prefetch ?? Math.max(2, Math.min(512, Math.ceil(AHEAD_MS / s.serviceMs)));
  }

  private pick(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (!s.spawned || s.spawned.exit || s.retiring || s.stopping || s.inflight.length >= this.limit(s)) continue;
      if (!best || s.inflight.length < best.inflight.length) best = s;
    }
    return best;
  }

  dispatch(): void {
    while (this.head < this.queue.length) {
      const job = this.queue[this.head];
      if (job && job.state !== QUEUED) {
        this.queue[this.head++] = undefined;
        continue;
      }
      const slot = this.pick();
      if (!slot || !job) break;
      this.queue[this.head++] = undefined;
      this.take(slot, job);
    }
    for (const s of this.slots) if (s.outbox.length > 0) this.send(s);
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    if (this.state === "close" && this.queued === 0) for (const s of this.slots) if (s.inflight.length === 0) this.stopWorker(s);
    if (this.drainWaiters.length > 0) this.checkDrained();
  }

  /** Writes a slot's outbox as one message; if that fails, job by job, so only the bad job fails. */
  private send(slot: Slot): void {
    const jobs = slot.outbox;
    slot.outbox = [];
    const link = slot.spawned!.link;
    if (jobs.length > 1) {
      try {
        link.write([W.TASKS, jobs.map((j) => j.id), jobs.map((j) => j.fn), jobs.map((j) => j.mode), jobs.map((j) => j.payload)]);
        return;
      } catch {
        // find the one that cannot go
      }
    }
    for (const job of jobs) {
      try {
        link.write([W.TASK, job.id, job.fn, job.mode, job.payload]);
      } catch (err) {
        slot.inflight.splice(slot.inflight.indexOf(job), 1);
        if (slot.inflight.length === 0) this.busyTotal += performance.now() - slot.busySince;
        this.finish(job, err);
      }
    }
  }

  private take(slot: Slot, job: Job): void {
    this.queued--;
    job.state = SENT;
    job.worker = slot;
    slot.outbox.push(job);
    const now = performance.now();
    job.sentAt = now;
    this.waitMs.add(now - job.queuedAt);
    if (slot.inflight.length === 0) slot.busySince = now;
    slot.inflight.push(job);
    const t = job.call.options.timeoutMs;
    if (t !== undefined) job.timer = setTimeout(() => this.abort(job, timedOut(job.call.label, t)), t);
    const max = this.options.maxTasksPerChild;
    const life = this.options.maxLifetimeMs;
    if ((max !== undefined && slot.done + slot.inflight.length >= max) || (life !== undefined && now - slot.bornAt >= life)) this.retire(slot);
  }

  /** No more jobs for this worker: it stops after what it holds, and its replacement starts now (a warm spare). */
  private retire(slot: Slot): void {
    if (slot.retiring || slot.spawned?.remote) return;
    slot.retiring = true;
    if (this.state === "run") void this.startWorker(true);
    if (slot.inflight.length === 0) this.stopWorker(slot);
  }

  private stopWorker(slot: Slot): void {
    try {
      slot.spawned?.link.write([W.STOP]);
    } catch {
      slot.spawned?.kill("SIGTERM");
    }
  }

  private onMessage(slot: Slot, m: unknown[]): void {
    if (m[0] === W.RESULTS) {
      const [, ids, oks, values, spent] = m as [number, unknown, unknown, unknown, unknown];
      if (!Array.isArray(ids) || !Array.isArray(oks) || !Array.isArray(values) || oks.length !== ids.length || values.length !== ids.length) return;
      const times = spent instanceof Float64Array && spent.length === ids.length ? spent : undefined;
      for (let i = 0; i < ids.length; i++) this.onResult(slot, ids[i], oks[i] === 1, values[i], times?.[i]);
    } else if (m[0] === W.RESULT || m[0] === W.ERROR) this.onResult(slot, m[1], m[0] === W.RESULT, m[2], m[3]);
    else if (m[0] === W.RSS) {
      const limit = this.options.maxRssBytes;
      if (limit !== undefined && typeof m[1] === "number" && m[1] > limit) this.retire(slot);
    } else return;
    this.dispatch();
  }

  private onResult(slot: Slot, id: unknown, ok: boolean, value: unknown, spentMs: unknown): void {
    const i = slot.inflight[0]?.id === id ? 0 : slot.inflight.findIndex((j) => j.id === id);
    if (i < 0) return; // not a job of ours: ignore
    const job = slot.inflight.splice(i, 1)[0]!;
    const now = performance.now();
    if (slot.inflight.length === 0) this.busyTotal += now - slot.busySince;
    slot.serviceMs = 0.8 * slot.serviceMs + 0.2 * Math.max(0.001, now - Math.max(slot.lastDone, job.sentAt));
    slot.lastDone = now;
    slot.done++;
    if (slot.stopping === job) {
      for (const t of slot.timers) clearTimeout(t);
      slot.timers = [];
      slot.stopping = undefined;
    }
    if (job.state === SENT) {
      const rtt = now - job.sentAt;
      this.runMs.add(rtt);
      // The child's own account of its time is untrusted: only a number
      // within the round trip counts.
      if (typeof spentMs === "number" && spentMs >= 0 && spentMs <= rtt) this.transportMs.add(rtt - spentMs);
      if (ok) this.finish(job, undefined, value);
      else this.finish(job, decodeError(value));
    }
    if (slot.retiring && slot.inflight.length === 0) this.stopWorker(slot);
  }

  private onExit(slot: Slot, exit: Exit): void {
    this.slots.splice(this.slots.indexOf(slot), 1);
    for (const t of slot.timers) clearTimeout(t);
    const [running, ...waiting] = slot.inflight;
    if (slot.inflight.length > 0) this.busyTotal += performance.now() - slot.busySince;
    slot.inflight.length = 0;
    const pid = slot.spawned?.pid;
    if (running && running.state === SENT) this.finish(running, new WorkerLostError(slot.name, pid, exit.code, exit.signal, running.call.label, exit.lost));
    // Jobs the worker had not started yet go back to the front of the queue.
    const back = waiting.filter((j) => j.state === SENT);
    for (const j of back) {
      j.state = QUEUED;
      j.worker = undefined;
      if (j.timer) clearTimeout(j.timer);
    }
    this.queue.splice(this.head, 0, ...back);
    this.queued += back.length;
    const expected = this.state !== "run" || (slot.retiring && running === undefined) || slot.stopping !== undefined;
    if (slot.retiring && running === undefined) this.counts.recycled++;
    else if (!expected) this.counts.crashed++;
    this.emit("workerExit", { name: slot.name, pid, exitCode: exitCodeOf(exit.code, exit.signal), signal: exit.signal });
    if (this.state === "run" && !slot.retiring && !slot.spawned?.remote) void this.startWorker(true);
    if (this.state === "terminate") this.failQueued(closedError("this pool"));
    this.dispatch();
    this.checkJoined();
  }

  private failQueued(error: unknown): void {
    for (let i = this.head; i < this.queue.length; i++) {
      const job = this.queue[i];
      if (job) this.finish(job, error);
    }
    this.queue = [];
    this.head = 0;
  }

  /** No new work; workers stop once the queue and their jobs are done. */
  close(): void {
    if (this.state === "run") this.state = "close";
    this.dispatch();
  }

  /** Stops every worker now (its link closed; SIGTERM, then SIGKILL, if it is still busy after the grace period); pending work fails with ECLOSED. */
  async terminate(): Promise<void> {
    this.state = "terminate";
    this.checkDrained();
    this.failQueued(closedError("this pool"));
    for (const s of this.slots) {
      for (const j of s.inflight) this.finish(j, closedError("this pool"));
      this.shutDown(s);
    }
    await this.join();
  }

  /**
   * Closes a worker's link: an idle worker exits by itself and removes what
   * its transport created (a signal would leave it behind). One still busy
   * after the grace period is SIGTERMed, then SIGKILLed.
   */
  private shutDown(slot: Slot): void {
    const spawned = slot.spawned;
    if (!spawned || spawned.exit) return;
    void spawned.link.close();
    const grace = this.options.graceMs ?? 1000;
    const t1 = setTimeout(() => spawned.kill("SIGTERM"), grace);
    const t2 = setTimeout(() => spawned.kill("SIGKILL"), 2 * grace);
    void spawned.exited.then(() => {
      clearTimeout(t1);
      clearTimeout(t2);
    });
  }

  /** Resolves when every worker has exited (after close() or terminate()). */
  join(): Promise<void> {
    if (this.state === "run") return Promise.reject(new Error("join() needs close() or terminate() first: the pool is still running"));
    this.joined ??= new Promise((resolve) => (this.resolveJoined = resolve));
    this.checkJoined();
    return this.joined;
  }

  private checkJoined(): void {
    if (this.state !== "run" && this.slots.length === 0) this.resolveJoined?.();
  }

  /** Workers the pool counts on: the ones it starts, and those on other hosts attached now (at least 1). */
  get processes(): number {
    let remote = 0;
    for (const s of this.slots) if (s.spawned?.remote) remote++;
    return Math.max(1, this.options.processes + remote);
  }

  /** The largest message a worker accepts (chunks are sized to fit it). */
  get maxMessageSize(): number {
    let m = Infinity;
    for (const s of this.slots) if (s.spawned) m = Math.min(m, s.spawned.link.maxMessageSize);
    return m;
  }

  stats(): PoolStats {
    const now = performance.now();
    let busy = 0;
    let busyTime = this.busyTotal;
    for (const s of this.slots) {
      if (s.inflight.length > 0) {
        busy++;
        busyTime += now - s.busySince;
      }
    }
    const elapsed = (now - this.started) * this.processes;
    return {
      processes: this.slots.filter((s) => s.spawned && !s.spawned.exit).length,
      busy,
      queued: this.queued,
      ...this.counts,
      utilization: elapsed > 0 ? Math.min(1, busyTime / elapsed) : 0,
      waitMs: this.waitMs.summary(),
      runMs: this.runMs.summary(),
      transportMs: this.transportMs.summary(),
    };
  }
}
