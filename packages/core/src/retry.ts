import type { ChannelError } from "./errors.js";

export interface AttachRetryOptions {
  /** Give up after this long (ms). */
  timeoutMs: number;
  /** The error code that means "the receiver is not there yet" (retry), or undefined (give up at once). */
  absent: (err: unknown) => string | undefined;
  /** The error thrown once `timeoutMs` has passed with the receiver still absent. */
  timedOut: (code: string, err: unknown) => ChannelError;
  /** The error thrown for any other failure (default: the failure itself). */
  failed?: (err: unknown) => unknown;
  /** Longest pause between attempts (ms, default 100); pauses start at 5 ms and double. */
  maxDelayMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Attaches to a receiver that may not exist yet: calls `attempt` until it
 * succeeds, pausing with backoff while the failure says the receiver is
 * absent. So a producer that starts first waits for its consumer, up to
 * `timeoutMs`, and then fails with a typed error instead of hanging.
 */
export async function attachWithRetry<T>(attempt: () => T | Promise<T>, options: AttachRetryOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const maxDelay = options.maxDelayMs ?? 100;
  let delay = 5;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      const code = options.absent(err);
      if (code === undefined) throw options.failed ? options.failed(err) : err;
      const left = deadline - Date.now();
      if (left <= 0) throw options.timedOut(code, err);
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}
