import type { Address } from "@ipc-sampler/core";
import { withDeadline, type DeadlineOptions } from "./async-result.js";
import { closedError, timedOut } from "./errors.js";
import { Pool, type FunctionName, type PoolOptions, type ResultOf } from "./pool.js";
import { Call, type Job } from "./job.js";
import type { AnyFunction } from "./target.js";
import * as W from "./wire.js";

/**
 * concurrent.futures.ProcessPoolExecutor on a Pool. Where Python marks the
 * whole executor broken when one worker dies, here only the future whose task
 * that worker ran fails (WorkerLostError); the worker is replaced and every
 * other future, and later submits, go on as if nothing happened.
 */
export class CancelledError extends Error {
  override readonly name = "CancelledError";
}

type State = "pending" | "running" | "finished" | "cancelled";

export class Future<T = unknown> {
  private state: State = "pending";
  private value: T | undefined;
  private error: unknown;
  private readonly settledPromise: Promise<void>;
  private resolveSettled!: () => void;
  private readonly callbacks: Array<(f: Future<T>) => void> = [];
  /** @internal */
  job: Job | undefined;
  /** @internal */
  cancelJob: (() => boolean) | undefined;

  constructor() {
    this.settledPromise = new Promise((r) => (this.resolveSettled = r));
  }

  /** @internal */
  settle(error: unknown, value?: T): void {
    if (this.state === "finished" || this.state === "cancelled") return;
    this.state = "finished";
    this.error = error;
    this.value = value;
    this.resolveSettled();
    for (const cb of this.callbacks) cb(this);
  }

  /** Cancels a task that has not gone to a worker yet; false once it runs or has finished. */
  cancel(): boolean {
    if (this.state === "cancelled") return true;
    if (this.state !== "pending" || !this.cancelJob?.()) return false;
    this.state = "cancelled";
    this.error = new CancelledError("the task was cancelled");
    this.resolveSettled();
    for (const cb of this.callbacks) cb(this);
    return true;
  }

  cancelled(): boolean {
    return this.state === "cancelled";
  }

  running(): boolean {
    return this.state === "pending" && this.job !== undefined && !this.job.queued;
  }

  done(): boolean {
    return this.state === "finished" || this.state === "cancelled";
  }

  /** The task's value, or its error; ETIMEDOUT when `timeoutMs` passes first (the task goes on). */
  async result(options: DeadlineOptions = {}): Promise<T> {
    await withDeadline(this.settledPromise, options, "the future's result");
    if (this.error !== undefined) throw this.error;
    return this.value as T;
  }

  /** The task's error, or undefined when it succeeded. */
  async exception(options: DeadlineOptions = {}): Promise<unknown> {
    await withDeadline(this.settledPromise, options, "the future's exception");
    if (this.state === "cancelled") throw this.error;
    return this.error;
  }

  addDoneCallback(cb: (f: Future<T>) => void): void {
    if (this.done()) cb(this);
    else this.callbacks.push(cb);
  }
}

export interface ExecutorOptions extends Omit<PoolOptions, "processes"> {
  /** Worker processes (default os.availableParallelism()). */
  maxWorkers?: number;
}

export class Executor<M = Record<string, AnyFunction>> implements AsyncDisposable {
  private shut = false;
  private readonly pending = new Set<Future<unknown>>();
  private constructor(private readonly pool: Pool<M>) {}

  static async create<M = Record<string, AnyFunction>>(options: ExecutorOptions): Promise<Executor<M>> {
    const { maxWorkers, ...rest } = options;
    // One task per worker at a time by default: a future stays cancellable
    // until a worker is free for it, as in Python.
    return new Executor<M>(await Pool.create<M>({ prefetch: 1, ...rest, processes: maxWorkers }));
  }

  /** Where workers on other hosts dial in (see Pool's `remote` option); undefined without `remote`. */
  get remoteAddress(): Address | undefined {
    return this.pool.remoteAddress;
  }

  /** Workers of other hosts attached now. */
  get remoteWorkers(): number {
    return this.pool.remoteWorkers;
  }

  waitForRemoteWorkers(n: number, options: { timeoutMs?: number } = {}): Promise<void> {
    return this.pool.waitForRemoteWorkers(n, options);
  }

  /** Schedules `fn(...args)`; the Future settles with its value or error. */
  submit<K extends FunctionName<M>>(fn: K, ...args: M[K] extends AnyFunction ? Parameters<M[K]> : never): Future<ResultOf<M, K>> {
    if (this.shut) throw closedError("this executor");
    const future = new Future<ResultOf<M, K>>();
    const engine = this.pool.engine;
    const call = new Call(engine, `${fn}()`, {});
    const f = future as Future<unknown>;
    this.pending.add(f);
    future.addDoneCallback(() => this.pending.delete(f));
    const job = engine.submit(fn, W.APPLY, args, call, (err, value) => future.settle(err, value as ResultOf<M, K>));
    future.job = job;
    future.cancelJob = () => engine.cancel(job, new CancelledError("the task was cancelled"));
    engine.dispatch();
    return future;
  }

  /**
   * Stops taking work. `cancelFutures` cancels what has not started;
   * `wait` (default true) waits for the rest and the workers' exit.
   */
  async shutdown(options: { wait?: boolean; cancelFutures?: boolean } = {}): Promise<void> {
    this.shut = true;
    if (options.cancelFutures) for (const f of [...this.pending]) f.cancel();
    this.pool.close();
    if (options.wait ?? true) await this.pool.join();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown({ wait: true });
  }
}

/** Yields each future as it finishes; ETIMEDOUT if `timeoutMs` passes before all have. */
export async function* asCompleted<T>(futures: Iterable<Future<T>>, options: { timeoutMs?: number } = {}): AsyncIterableIterator<Future<T>> {
  const all = new Set(futures);
  const finished: Future<T>[] = [];
  let wake: (() => void) | undefined;
  for (const f of all) f.addDoneCallback((g) => {
    finished.push(g);
    wake?.();
  });
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let yielded = 0;
  while (yielded < all.size) {
    if (finished.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw timedOut(`${all.size - yielded} of ${all.size} futures`, options.timeoutMs!);
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (Number.isFinite(left)) setTimeout(resolve, left).unref();
      });
      wake = undefined;
      continue;
    }
    yielded++;
    yield finished.shift()!;
  }
}

export type ReturnWhen = "FIRST_COMPLETED" | "FIRST_EXCEPTION" | "ALL_COMPLETED";

/** concurrent.futures.wait: splits the futures into done and not done when `returnWhen` holds or `timeoutMs` passes. */
export async function wait<T>(futures: Iterable<Future<T>>, options: { timeoutMs?: number; returnWhen?: ReturnWhen } = {}): Promise<{ done: Set<Future<T>>; notDone: Set<Future<T>> }> {
  const all = [...futures];
  const when = options.returnWhen ?? "ALL_COMPLETED";
  if (!["FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED"].includes(when)) throw new RangeError(`returnWhen must be FIRST_COMPLETED, FIRST_EXCEPTION or ALL_COMPLETED, got ${when}`);
  const satisfied = async (): Promise<boolean> => {
    const done = all.filter((f) => f.done());
    if (done.length === all.length) return true;
    if (when === "FIRST_COMPLETED") return done.length > 0;
    if (when === "FIRST_EXCEPTION") {
      for (const f of done) if (f.cancelled() || (await f.exception()) !== undefined) return true;
    }
    return false;
  };
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  while (!(await satisfied()) && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      for (const f of all) f.addDoneCallback(() => resolve());
      if (Number.isFinite(deadline)) setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
    });
  }
  const done = new Set(all.filter((f) => f.done()));
  return { done, notDone: new Set(all.filter((f) => !done.has(f))) };
}

