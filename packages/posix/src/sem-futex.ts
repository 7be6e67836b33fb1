import { FutexWaiter } from "./futex.js";
import { openSegment, type MappedSegment } from "./segment.js";
import type { PosixSemaphore } from "./sem.js";

/**
 * Waits for a unit of a POSIX named semaphore on the event loop's own thread.
 *
 * glibc keeps a named semaphore (64-bit layout: x64, arm64) in its file under
 * /dev/shm as a 64-bit word, the count in the low half and the number of
 * sleeping waiters in the high half; sem_post(3) adds one to the count and
 * calls FUTEX_WAKE on the count's address only when a waiter is registered.
 * So a waiter that registers itself the same way can sleep in FUTEX_WAIT on
 * that word through `FutexWaiter` (an io_uring wait the loop polls, where the
 * kernel has one): a post from another process then wakes this thread
 * directly instead of a waiter thread that hands over through uv_async, one
 * wake-up per hand-off instead of two. The unit itself is still taken with
 * sem_trywait(3).
 */
export interface SemaphoreFutexWait {
  /** Resolves true when a unit was taken, false when `timeoutMs` passed first (or close() ended the wait); rejects TypeError for a timeout that is not a number. */
  wait(timeoutMs: number): Promise<boolean>;
  /** Ends a pending wait (it resolves false) and closes the mapping's descriptor. Idempotent. */
  close(): void;
}

/**
 * The futex wait for `sem`, or undefined where the layout is not the one
 * described above (checked: the count word follows a post and a trywait).
 * `sem` must hold no units and be waited on by this process alone while checked.
 */
export function semaphoreFutexWait(sem: PosixSemaphore): SemaphoreFutexWait | undefined {
  if (typeof sem !== "object" || sem === null || typeof sem.name !== "string" || typeof sem.tryWait !== "function") {
    throw new TypeError("semaphoreFutexWait wants a semaphore from semOpen()");
  }
  if ((process.arch !== "x64" && process.arch !== "arm64") || sem.value !== 0) return undefined;
  let seg: MappedSegment;
  try {
    seg = openSegment(`sem.${sem.name.slice(1)}`);
  } catch {
    return undefined;
  }
  const words = new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.buffer.length >>> 2);
  let ok = words.length >= 2 && Atomics.load(words, 0) === 0;
  if (ok) {
    sem.post();
    ok = Atomics.load(words, 0) === 1;
    ok = sem.tryWait() && ok && Atomics.load(words, 0) === 0;
  }
  if (!ok) {
    seg.close();
    return undefined;
  }
  const waiter = new FutexWaiter(words, 0);
  let closed = false;
  return {
    async wait(timeoutMs) {
      if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs)) throw new TypeError(`timeoutMs must be a number (negative: no deadline); got ${String(timeoutMs)}`);
      // Registered before the count is looked at: a post after the look wakes the futex.
      Atomics.add(words, 1, 1);
      try {
        if (Atomics.load(words, 0) === 0) await waiter.wait(0, timeoutMs);
      } finally {
        // The mapping lives as long as `words` is reachable (segment.ts): safe after close() too.
        Atomics.sub(words, 1, 1);
      }
      return !closed && sem.tryWait();
    },
    close() {
      if (closed) return;
      closed = true;
      waiter.close();
      seg.close();
    },
  };
}
