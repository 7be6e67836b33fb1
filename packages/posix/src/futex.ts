import { ChannelError, fromSystemError } from "@ipc-sampler/core";
import { native } from "./loader.js";
import type { FutexOutcome, NativeFutexWaiter } from "./native.js";

/**
 * futex(2) on a 32-bit word inside shared memory (a mapped segment), usable
 * across processes: FUTEX_WAIT / FUTEX_WAKE without FUTEX_PRIVATE_FLAG.
 *
 * The word is named by an Int32Array over the mapping and an index into it,
 * the same pair `Atomics` takes. `Atomics.*` on such an array is atomic
 * across processes; `Atomics.wait`/`notify` are not (they key on the
 * process's own ArrayBuffer), which is why these exist.
 */

function check(words: Int32Array, index: number): void {
  if (!(words instanceof Int32Array)) throw new TypeError("the futex word must be named by an Int32Array and an index");
  if (!Number.isInteger(index) || index < 0 || index >= words.length) {
    throw new RangeError(`futex index must be an integer from 0 to ${words.length - 1}; got ${index}`);
  }
}

/**
 * futex(FUTEX_WAKE): wakes up to `count` waiters (default all) sleeping on
 * `words[index]` in any process. One system call, synchronous and cheap;
 * returns how many were woken.
 */
export function futexWake(words: Int32Array, index: number, count = 0x7fffffff): number {
  check(words, index);
  try {
    return native().futexWake(words, index * 4, count);
  } catch (err) {
    throw fromSystemError(err, "wake futex waiters");
  }
}

/**
 * futex(FUTEX_WAIT) on the calling thread while `words[index] === expected`.
 * Blocks the thread: only for worker threads and tests.
 */
export function futexWaitSync(words: Int32Array, index: number, expected: number, timeoutMs = -1): "woken" | "timed-out" {
  check(words, index);
  return native().futexWaitSync(words, index * 4, expected | 0, timeoutMs) === 1 ? "timed-out" : "woken";
}

export type FutexWaitResult = "woken" | "timed-out" | "cancelled";
const RESULTS: readonly FutexWaitResult[] = ["woken", "timed-out", "cancelled"];

/**
 * Waits on one futex word without blocking the event loop: an io_uring
 * FUTEX_WAIT whose ring the loop polls (Linux 6.7+), or else a dedicated
 * thread that sleeps in FUTEX_WAIT and reports back through a thread-safe
 * function. One wait at a time; an armed wait keeps the process alive, an
 * idle waiter does not. `close()` is required: it stops the thread or
 * closes the ring.
 *
 * "woken" means the word changed or a FUTEX_WAKE arrived (possibly a
 * spurious one): re-check the shared state, then wait again if needed.
 */
export class FutexWaiter {
  private handle: NativeFutexWaiter | undefined;
  private resolve: ((r: FutexWaitResult) => void) | undefined;
  private isClosed = false;

  constructor(readonly words: Int32Array, readonly index: number) {
    check(words, index);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get waiting(): boolean {
    return this.resolve !== undefined;
  }

  private readonly deliver = (outcome: FutexOutcome): void => {
    const r = this.resolve;
    this.resolve = undefined;
    r?.(RESULTS[outcome] ?? "woken");
  };

  /**
   * Sleeps while `words[index] === expected`, at most `timeoutMs` (default:
   * no deadline). Resolves at once with "woken" when the word differs.
   */
  wait(expected: number, timeoutMs = -1): Promise<FutexWaitResult> {
    if (this.isClosed) return Promise.reject(new ChannelError("ECLOSED", "cannot wait on the futex: this waiter is closed"));
    if (this.resolve) return Promise.reject(new ChannelError("EBUSY", "cannot wait on this futex waiter: it is already waiting, one wait at a time"));
    if (!this.handle) {
      const { FutexWaiter: Native } = native();
      this.handle = new Native(this.words, this.index * 4, this.deliver);
    }
    const p = new Promise<FutexWaitResult>((resolve) => (this.resolve = resolve));
    this.handle.wait(expected | 0, timeoutMs < 0 || !Number.isFinite(timeoutMs) ? -1 : Math.ceil(timeoutMs));
    return p;
  }

  /** Ends the pending wait with "cancelled". */
  cancel(): void {
    if (this.resolve && this.handle) this.handle.cancel();
  }

  /** Cancels a pending wait (it resolves "cancelled") and stops the thread. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const pending = this.resolve;
    this.resolve = undefined;
    this.handle?.close();
    this.handle = undefined;
    pending?.("cancelled");
  }
}
