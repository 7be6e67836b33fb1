import { availableParallelism } from "node:os";
import { serialize } from "node:v8";
import { ChannelError, type Address } from "@ipc-sampler/core";
import { AsyncResult } from "./async-result.js";
import { abortError } from "./errors.js";
import { RemoteEndpoint, type RemoteOptions } from "./remote.js";
import { Call, Scheduler, type CallOptions } from "./scheduler.js";
import type { PoolStats } from "./stats.js";
import { moduleUrl, type AnyFunction, type ModuleRef } from "./target.js";
import type { TransportChoice } from "./transport.js";
import * as W from "./wire.js";

export interface PoolOptions extends TransportChoice {
  /** The module whose exported functions the pool runs (import.meta.url, a file URL or an absolute path). */
  module: ModuleRef;
  /** Worker processes (default os.availableParallelism()). */
  processes?: number;
  /** Export run once in each worker before its first task, with `initargs`. */
  initializer?: string;
  initargs?: readonly unknown[];
  /** Tasks (a map chunk counts as one) a worker runs before it is replaced; the replacement starts ahead. */
  maxTasksPerChild?: number;
  /** A worker older than this (checked when it takes a task) is replaced, its successor started ahead. */
  maxLifetimeMs?: number;
  /** A worker whose resident set size (process.memoryUsage.rss(), reported after each run of results) passes this is replaced. */
  maxRssBytes?: number;
  /** Tasks that may wait for a worker; one more is refused with ELIMIT (`await pool.drain()` waits for room instead). */
  maxQueue?: number;
  /** Tasks a worker may hold at once; default: adaptive, about 4 ms of its work (2 to 512), to hide the round trip. */
  prefetch?: number;
  /** How long an aborted task may take to stop before SIGTERM, and SIGTERM before SIGKILL (default 1000 ms). */
  graceMs?: number;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
  /**
   * Workers on other hosts, besides the `processes` started here (which may
   * then be 0): the pool listens where they dial in
   * (`ipc-sampler worker --connect <endpoint>`), e.g.
   * `{ transport: zeromqTransport, listen: { listen: "tcp://10.0.0.1:5555", secret } }`.
   */
  remote?: RemoteOptions;
}

/** Names of the exports of M that are functions. */
export type FunctionName<M> = { [K in keyof M]: M[K] extends AnyFunction ? K : never }[keyof M] & string;
type Fn<M, K extends FunctionName<M>> = M[K] extends AnyFunction ? M[K] : never;
export type ResultOf<M, K extends FunctionName<M>> = Awaited<ReturnType<Fn<M, K>>>;
type Item<M, K extends FunctionName<M>> = Parameters<Fn<M, K>>[0];

export interface MapOptions extends CallOptions {
  /** Items per message; default: Python's rule (a quarter of an even share per worker), kept under the transport's message size. */
  chunksize?: number;
}

export interface AsyncCallbacks<T> {
  callback?: (value: T) => void;
  errorCallback?: (error: unknown) => void;
}

function positiveInt(v: number | undefined, what: string): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`${what} must be a positive integer, got ${v}`);
}

/**
 * multiprocessing.Pool over any transport: `processes` worker processes run
 * exported functions of one module. A worker that dies fails only the task it
 * was running (WorkerLostError naming it) and is replaced.
 */
export class Pool<M = Record<string, AnyFunction>> implements AsyncDisposable {
  private constructor(private readonly scheduler: Scheduler, private readonly endpoint: RemoteEndpoint | undefined) {}

  static async create<M = Record<string, AnyFunction>>(options: PoolOptions): Promise<Pool<M>> {
    const processes = options.processes ?? (options.remote ? 0 : availableParallelism());
    if (!(Number.isInteger(processes) && (processes >= 1 || (processes === 0 && options.remote)))) throw new RangeError(`processes must be a positive integer (or 0 with remote workers), got ${processes}`);
    if (options.remote?.workers !== undefined && !(Number.isInteger(options.remote.workers) && options.remote.workers >= 0)) throw new RangeError("remote.workers must be an integer >= 0");
    positiveInt(options.maxTasksPerChild, "maxTasksPerChild");
    positiveInt(options.prefetch, "prefetch");
    positiveInt(options.maxLifetimeMs, "maxLifetimeMs");
    positiveInt(options.maxRssBytes, "maxRssBytes");
    if (options.maxQueue !== undefined && !(Number.isInteger(options.maxQueue) && options.maxQueue >= 0)) throw new RangeError("maxQueue must be an integer >= 0");
    const { module, initializer, initargs, remote, ...rest } = options;
    const init: W.Init = { mode: "worker", module: moduleUrl(module), initializer, initargs };
    const scheduler = new Scheduler({ ...rest, processes, init });
    await scheduler.start();
    if (!remote) return new Pool<M>(scheduler, undefined);
    let endpoint: RemoteEndpoint | undefined;
    try {
      endpoint = await RemoteEndpoint.listen(remote, scheduler);
      await endpoint.waitFor(remote.workers ?? 0);
    } catch (err) {
      await endpoint?.close();
      await scheduler.terminate();
      throw err;
    }
    return new Pool<M>(scheduler, endpoint);
  }

  /** Where workers on other hosts dial in (its `endpoint` is what `ipc-sampler worker --connect` takes); undefined without `remote`. */
  get remoteAddress(): Address | undefined {
    return this.endpoint?.address;
  }

  /** Workers of other hosts attached now. */
  get remoteWorkers(): number {
    return this.endpoint?.workers ?? 0;
  }

  /** Resolves once `n` remote workers have become ready since the pool started (ETIMEDOUT after `timeoutMs`, default `remote.readyTimeoutMs`). */
  waitForRemoteWorkers(n: number, options: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.endpoint) return Promise.reject(new TypeError("this pool has no remote option"));
    return this.endpoint.waitFor(n, options.timeoutMs);
  }

  get processes(): number {
    return this.scheduler.processes;
  }

  /** Calls `fn(...args)` in a worker. */
  apply<K extends FunctionName<M>>(fn: K, args: Parameters<Fn<M, K>>, options: CallOptions = {}): Promise<ResultOf<M, K>> {
    return new Promise((resolve, reject) => {
      const call = new Call(this.scheduler, `${fn}()`, options);
      try {
        this.scheduler.submit(fn, W.APPLY, args, call, (err, value) => (err === undefined ? resolve(value as ResultOf<M, K>) : reject(err)));
      } catch (err) {
        return reject(err);
      }
      this.scheduler.dispatch();
    });
  }

  applyAsync<K extends FunctionName<M>>(fn: K, args: Parameters<Fn<M, K>>, options: CallOptions & AsyncCallbacks<ResultOf<M, K>> = {}): AsyncResult<ResultOf<M, K>> {
    return new AsyncResult(this.apply(fn, args, options), options.callback, options.errorCallback);
  }

  /** `fn` over every item, results in order. */
  map<K extends FunctionName<M>>(fn: K, items: Iterable<Item<M, K>>, options: MapOptions = {}): Promise<Array<ResultOf<M, K>>> {
    return this.chunked(fn, W.MAP, Array.from(items), options) as Promise<Array<ResultOf<M, K>>>;
  }

  mapAsync<K extends FunctionName<M>>(fn: K, items: Iterable<Item<M, K>>, options: MapOptions & AsyncCallbacks<Array<ResultOf<M, K>>> = {}): AsyncResult<Array<ResultOf<M, K>>> {
    return new AsyncResult(this.map(fn, items, options), options.callback, options.errorCallback);
  }

  /** `fn(...args)` for every args tuple, results in order. */
  starmap<K extends FunctionName<M>>(fn: K, items: Iterable<Parameters<Fn<M, K>>>, options: MapOptions = {}): Promise<Array<ResultOf<M, K>>> {
    return this.chunked(fn, W.STARMAP, Array.from(items), options) as Promise<Array<ResultOf<M, K>>>;
  }

  starmapAsync<K extends FunctionName<M>>(fn: K, items: Iterable<Parameters<Fn<M, K>>>, options: MapOptions & AsyncCallbacks<Array<ResultOf<M, K>>> = {}): AsyncResult<Array<ResultOf<M, K>>> {
    return new AsyncResult(this.starmap(fn, items, options), options.callback, options.errorCallback);
  }

  /** Results in order as they come, from a lazy (async) iterable, with a bounded number of chunks in flight (default chunksize 1). */
  imap<K extends FunctionName<M>>(fn: K, items: Iterable<Item<M, K>> | AsyncIterable<Item<M, K>>, options: MapOptions = {}): AsyncIterableIterator<ResultOf<M, K>> {
    return this.stream(fn, items, options, true) as AsyncIterableIterator<ResultOf<M, K>>;
  }

  /** Like imap, in completion order. */
  imapUnordered<K extends FunctionName<M>>(fn: K, items: Iterable<Item<M, K>> | AsyncIterable<Item<M, K>>, options: MapOptions = {}): AsyncIterableIterator<ResultOf<M, K>> {
    return this.stream(fn, items, options, false) as AsyncIterableIterator<ResultOf<M, K>>;
  }

  /** Python's default chunksize (ceil of n / (4 × processes)), capped so one chunk fits half a message. */
  defaultChunksize(items: readonly unknown[]): number {
    if (items.length === 0) return 1;
    const python = Math.ceil(items.length / (this.processes * 4));
    const limit = this.scheduler.maxMessageSize;
    if (!Number.isFinite(limit)) return python;
    let perItem = 16;
    try {
      perItem = Math.max(perItem, serialize(items[0]).length + 8);
    } catch {
      // the send reports it
    }
    return Math.max(1, Math.min(python, Math.floor(limit / 2 / perItem)));
  }

  private chunked(fn: string, mode: W.TaskMode, items: unknown[], options: MapOptions): Promise<unknown[]> {
    positiveInt(options.chunksize, "chunksize");
    const size = options.chunksize ?? this.defaultChunksize(items);
    const call = new Call(this.scheduler, `${mode === W.MAP ? "map" : "starmap"}(${fn})`, options);
    return new Promise((resolve, reject) => {
      const out = new Array<unknown>(items.length);
      let remaining = Math.ceil(items.length / size);
      if (remaining === 0) return resolve(out);
      let failed = false;
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        for (const j of [...call.live]) this.scheduler.cancel(j, err);
        reject(err);
      };
      const numeric = mode === W.MAP && items.every((x) => typeof x === "number");
      for (let at = 0; at < items.length && !failed; at += size) {
        // Numbers travel as a Float64Array: one copy instead of a tag per item.
        const chunk = numeric ? new Float64Array(items.slice(at, at + size) as number[]) : items.slice(at, at + size);
        const start = at;
        try {
          this.scheduler.submit(fn, mode, chunk, call, (err, value) => {
            if (err !== undefined) return fail(err);
            if (!(Array.isArray(value) || value instanceof Float64Array) || value.length !== chunk.length) return fail(new ChannelError("EPROTO", `a worker answered a ${chunk.length}-item chunk of ${call.label} with something else`));
            for (let i = 0; i < value.length; i++) out[start + i] = value[i];
            if (--remaining === 0 && !failed) resolve(out);
          });
        } catch (err) {
          fail(err);
        }
      }
      this.scheduler.dispatch();
    });
  }

  private async *stream(fn: string, items: Iterable<unknown> | AsyncIterable<unknown>, options: MapOptions, ordered: boolean): AsyncIterableIterator<unknown> {
    positiveInt(options.chunksize, "chunksize");
    const size = options.chunksize ?? 1;
    const window = this.processes * 4;
    const call = new Call(this.scheduler, `${ordered ? "imap" : "imapUnordered"}(${fn})`, options);
    const source = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (items as Iterable<unknown>)[Symbol.iterator]();
    const done = new Map<number, unknown[]>();
    const arrived: unknown[][] = [];
    let error: unknown;
    let wake: (() => void) | undefined;
    let sourceDone = false;
    let submitted = 0;
    let yielded = 0;
    try {
      for (;;) {
        while (!sourceDone && submitted - yielded < window && error === undefined) {
          const chunk: unknown[] = [];
          while (chunk.length < size) {
            const r = await source.next();
            if (r.done) {
              sourceDone = true;
              break;
            }
            chunk.push(r.value);
          }
          if (chunk.length === 0) break;
          const index = submitted++;
          this.scheduler.submit(fn, W.MAP, chunk, call, (err, value) => {
            if (err !== undefined) error ??= err;
            else if (!Array.isArray(value) || value.length !== chunk.length) error ??= new ChannelError("EPROTO", `a worker answered a chunk of ${call.label} with something else`);
            else if (ordered) done.set(index, value);
            else arrived.push(value);
            wake?.();
          });
          this.scheduler.dispatch();
        }
        if (error !== undefined) throw error;
        let progressed = false;
        if (ordered) {
          for (let v = done.get(yielded); v !== undefined; v = done.get(yielded)) {
            done.delete(yielded++);
            progressed = true;
            yield* v;
          }
        } else {
          while (arrived.length > 0) {
            yielded++;
            progressed = true;
            yield* arrived.shift()!;
          }
        }
        if (sourceDone && yielded === submitted) return;
        if (!progressed) await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      for (const j of [...call.live]) this.scheduler.abort(j, abortError(call.label));
      if (!sourceDone) await source.return?.();
    }
  }

  /**
   * Backpressure without ELIMIT: resolves when fewer than `maxQueue` tasks
   * wait (so the next call is accepted), or, without `maxQueue`, when nothing
   * is queued or running. Resolves at once on a closed or terminated pool
   * (whose calls give ECLOSED).
   */
  drain(): Promise<void> {
    return this.scheduler.drained();
  }

  /** No more tasks; workers exit when the queue is done. */
  close(): void {
    this.scheduler.close();
  }

  /** Stops the workers now; what is pending fails with ECLOSED. */
  async terminate(): Promise<void> {
    await this.scheduler.terminate();
    await this.endpoint?.close();
  }

  /** Waits for every worker to exit, after close() or terminate(). */
  async join(): Promise<void> {
    await this.scheduler.join();
    await this.endpoint?.close();
  }

  stats(): PoolStats {
    return this.scheduler.stats();
  }

  /** `workerExit`: { name, pid, exitCode, signal } whenever a worker process ends. */
  on(event: "workerExit", listener: (info: { name: string; pid: number | undefined; exitCode: number | null; signal: NodeJS.Signals | null }) => void): this {
    this.scheduler.on(event, listener);
    return this;
  }

  /** `await using pool = …`: terminate and join, as Python's `with Pool()` does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate();
  }

  /** @internal The engine, for Executor. */
  get engine(): Scheduler {
    return this.scheduler;
  }
}
