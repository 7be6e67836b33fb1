import { abortError, timedOut } from "./errors.js";

export interface DeadlineOptions {
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * `promise`, or ETIMEDOUT after `timeoutMs`, or AbortError when `signal`
 * fires; the work behind the promise is left as it is.
 */
export function withDeadline<T>(promise: Promise<T>, options: DeadlineOptions, what: string): Promise<T> {
  const { timeoutMs, signal } = options;
  if (timeoutMs === undefined && signal === undefined) return promise;
  if (signal?.aborted) return Promise.reject(abortError(what, signal.reason));
  return new Promise<T>((resolve, reject) => {
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => settle(() => reject(timedOut(what, timeoutMs))), timeoutMs);
    const onAbort = () => settle(() => reject(abortError(what, signal?.reason)));
    signal?.addEventListener("abort", onAbort, { once: true });
    function settle(f: () => void): void {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      f();
    }
    promise.then(
      (v) => settle(() => resolve(v)),
      (e) => settle(() => reject(e)),
    );
  });
}

/** multiprocessing.pool.AsyncResult: the result of mapAsync/applyAsync. */
export class AsyncResult<T> {
  private state: "pending" | "ok" | "failed" = "pending";
  private value: T | undefined;
  private error: unknown;
  private readonly promise: Promise<T>;

  constructor(promise: Promise<T>, callback?: (value: T) => void, errorCallback?: (error: unknown) => void) {
    this.promise = promise.then(
      (v) => {
        this.state = "ok";
        this.value = v;
        callback?.(v);
        return v;
      },
      (e: unknown) => {
        this.state = "failed";
        this.error = e;
        errorCallback?.(e);
        throw e;
      },
    );
    this.promise.catch(() => {}); // reported through get(), successful() and errorCallback
  }

  /** The call has finished, one way or the other. */
  ready(): boolean {
    return this.state !== "pending";
  }

  /** Whether it finished without an error; throws if it has not finished (as Python raises ValueError). */
  successful(): boolean {
    if (this.state === "pending") throw new Error("successful() was called before the result was ready: await wait() first");
    return this.state === "ok";
  }

  /** Waits until ready or until `timeoutMs` passes (no error either way). */
  async wait(options: DeadlineOptions = {}): Promise<void> {
    await withDeadline(this.promise, options, "wait").catch(() => {});
  }

  /** The value, or the call's error; ETIMEDOUT when `timeoutMs` passes first (the task goes on). */
  get(options: DeadlineOptions = {}): Promise<T> {
    if (this.state === "ok") return Promise.resolve(this.value as T);
    if (this.state === "failed") return Promise.reject(this.error);
    return withDeadline(this.promise, options, "the result");
  }
}
