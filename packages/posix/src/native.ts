/**
 * The whole native surface, as the addon exports it. Functions throw plain
 * Errors with `code`, `errno` and `syscall`; `index.ts` wraps them into
 * ChannelError with the resource involved.
 */
export interface NativeAddon extends SemNative {
  /** pipe2(2) → [readFd, writeFd]. */
  pipe2(flags: number): [number, number];
  /** fcntl(F_SETPIPE_SZ): returns the capacity the kernel granted. */
  setPipeSize(fd: number, bytes: number): number;
  /** fcntl(F_GETPIPE_SZ). */
  getPipeSize(fd: number): number;
  /** mkfifo(3) with the exact mode (umask cleared for the call). */
  mkfifo(path: string, mode: number): void;
  /** close(2). */
  close(fd: number): void;
  readonly O_CLOEXEC: number;
  readonly O_NONBLOCK: number;
  readonly PIPE_BUF: number;
}

// ---- sem.cc: POSIX named semaphores ----------------------------------------

/** An open sem_t* (sem_open(3)); opaque to JavaScript. */
export type SemHandle = { readonly __semHandle: unique symbol };

/**
 * The semaphore family. Optional "marks" `(words, index, value)`: on a
 * successful acquire the addon stores `value` at `words[index]` right after
 * the call, on the thread that made it; `semPost` stores it right before
 * posting. Shared-memory protocols use this to record who holds a unit.
 */
export interface SemNative {
  /** sem_open(3): `create` adds O_CREAT, `exclusive` O_EXCL; `mode` is exact (umask cleared). */
  semOpen(name: string, create: boolean, exclusive: boolean, mode: number, value: number): SemHandle;
  /** sem_post(3). */
  semPost(handle: SemHandle, marks?: Int32Array, index?: number, value?: number): void;
  /** sem_trywait(3): true when a unit was taken, false on EAGAIN (EINTR retried). */
  semTryWait(handle: SemHandle, marks?: Int32Array, index?: number, value?: number): boolean;
  /**
   * sem_clockwait(3) (CLOCK_MONOTONIC) on the handle's own waiter thread, in
   * slices of SEM_WAIT_SLICE_MS so a cancel is seen; never on the libuv pool.
   * `callback(null, true)` acquired, `(null, false)` timed out, `(err)` with
   * code ECANCELED after semCancel/semClose, or another errno. `timeoutMs < 0`:
   * no deadline. One pending wait per handle (EBUSY otherwise). While a wait
   * is pending the event loop stays alive.
   */
  semWait(handle: SemHandle, timeoutMs: number, callback: (err: Error | null, acquired: boolean) => void, marks?: Int32Array, index?: number, value?: number): void;
  /** Ends the pending wait with ECANCELED within one slice (unless it acquired first). */
  semCancel(handle: SemHandle): void;
  /** sem_getvalue(3). */
  semGetValue(handle: SemHandle): number;
  /** sem_close(3), after cancelling a pending wait and stopping the waiter thread. Idempotent. */
  semClose(handle: SemHandle): void;
  /** sem_unlink(3). */
  semUnlink(name: string): void;
  readonly SEM_VALUE_MAX: number;
  readonly SEM_WAIT_SLICE_MS: number;
}

// ---- futex.cc: futex(2) on a word in shared memory ---------------------------

/** Outcome of one FutexWaiter wait: 0 woken (or the word differed), 1 timed out, 2 cancelled. */
export type FutexOutcome = 0 | 1 | 2;

/**
 * A dedicated thread that sleeps in FUTEX_WAIT (shared, not
 * FUTEX_PRIVATE_FLAG) on one 32-bit word and reports each outcome through a
 * thread-safe function. Never on the libuv pool; an idle, disarmed waiter
 * sleeps on a condition variable.
 */
export interface NativeFutexWaiter {
  /** Arms one wait while the word equals `expected` (timeoutMs < 0: none). One at a time. */
  wait(expected: number, timeoutMs: number): void;
  /** Ends the armed wait with outcome 2. */
  cancel(): void;
  /** Cancels, joins the thread, releases the callback. Idempotent. */
  close(): void;
}

export interface FutexNative {
  /** futex(FUTEX_WAKE): wakes up to `count` waiters on the word at `byteOffset` of `target` (any process); returns how many. */
  futexWake(target: ArrayBufferView | ArrayBuffer, byteOffset: number, count: number): number;
  /** futex(FUTEX_WAIT) on the calling thread: 0 woken or not equal, 1 timed out. Blocks: worker threads and tests only. */
  futexWaitSync(target: ArrayBufferView | ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): FutexOutcome;
  /** `new FutexWaiter(target, byteOffset, callback)`: the waiter keeps `target` (and so its mapping) alive until closed. */
  FutexWaiter: new (target: ArrayBufferView | ArrayBuffer, byteOffset: number, callback: (outcome: FutexOutcome) => void) => NativeFutexWaiter;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeAddon extends FutexNative {}
