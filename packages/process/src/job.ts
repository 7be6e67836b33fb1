import { abortError } from "./errors.js";
import type { WorkerHandle } from "./spawn.js";
import type * as W from "./wire.js";

/** The scheduler's records: a call, its jobs (one message each), and a worker slot. */
export const QUEUED = 0;
export const SENT = 1;
export const DONE = 2;

export interface CallOptions {
  /** Aborts the call: queued jobs are dropped, a running one is asked to stop, then SIGTERM, then SIGKILL. */
  signal?: AbortSignal | undefined;
  /** Per job, from the moment a worker takes it; passing it stops the job like an abort, with ETIMEDOUT. */
  timeoutMs?: number | undefined;
}

/** What jobs of one call share: its label, signal and timeout, and the jobs not yet settled. */
export class Call {
  readonly live = new Set<Job>();
  private readonly onAbort = () => {
    for (const job of [...this.live]) this.scheduler.abort(job, abortError(this.label, this.options.signal?.reason));
  };
  constructor(private readonly scheduler: { abort(job: Job, error: unknown): void }, readonly label: string, readonly options: CallOptions) {
    options.signal?.addEventListener("abort", this.onAbort, { once: true });
  }
  /** No job will be added: drop the listener when the last one settles. */
  settled(job: Job): void {
    this.live.delete(job);
    if (this.live.size === 0) this.options.signal?.removeEventListener("abort", this.onAbort);
  }
}

export class Job {
  state = QUEUED;
  worker: Slot | undefined;
  queuedAt = 0;
  sentAt = 0;
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly id: number,
    readonly fn: W.FunctionRef,
    readonly mode: W.TaskMode,
    readonly payload: unknown,
    readonly call: Call,
    readonly settle: (error: unknown, value?: unknown) => void,
  ) {}
  /** Still waiting in the queue (false once a worker took it). */
  get queued(): boolean {
    return this.state === QUEUED;
  }
}

export class Slot {
  spawned: WorkerHandle | undefined;
  readonly inflight: Job[] = [];
  done = 0;
  retiring = false;
  /** The aborted job this worker still runs; no new job goes to it meanwhile. */
  stopping: Job | undefined;
  timers: NodeJS.Timeout[] = [];
  busySince = 0;
  /** Smoothed milliseconds per job at this worker, and when its last result came. */
  serviceMs = 1;
  lastDone = 0;
  /** Jobs taken in this dispatch pass, written as one message at its end. */
  outbox: Job[] = [];
  readonly bornAt = performance.now();
  constructor(readonly name: string) {}
}

