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
  /** mkfifo(3), then fchmod to the exact mode (the process umask is never changed). */
  mkfifo(path: string, mode: number): void;
  /** close(2). */
  close(fd: number): void;
  /** checksum.cc: core's checksum word sum over the `length >>> 2` whole words at bytes[offset], the first being word `firstIndex`. */
  wordSum(bytes: Uint8Array, offset: number, length: number, firstIndex: number): number;
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
  /** sem_open(3): `create` adds O_CREAT, `exclusive` O_EXCL; `mode` is exact (fchmod after an exclusive create; the process umask is never changed). */
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
  /**
   * sem_close(3), after stopping the waiter thread (within one slice). A
   * pending wait's callback is never called afterwards: the caller answers
   * it. Idempotent.
   */
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
 * FUTEX_WAIT (shared, not FUTEX_PRIVATE_FLAG) on one 32-bit word without
 * blocking the loop. Where the kernel has IORING_OP_FUTEX_WAIT (Linux 6.7+)
 * the wait is a request on an io_uring of the waiter's own whose fd the
 * event loop polls: no thread, and a wake-up reaches the loop directly.
 * Elsewhere a dedicated thread sleeps in FUTEX_WAIT and reports each outcome
 * through a thread-safe function; an idle, disarmed one sleeps on a
 * condition variable. Never on the libuv pool.
 */
export interface NativeFutexWaiter {
  /** Arms one wait while the word equals `expected` (timeoutMs < 0: none). One at a time. */
  wait(expected: number, timeoutMs: number): void;
  /** Ends the armed wait with outcome 2. */
  cancel(): void;
  /** Cancels (an armed wait still reports 2), stops the thread or closes the ring, releases the callback. Idempotent. */
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

// ---- poll.cc: fd readiness on the event loop, pidfds, non-blocking I/O -------

/**
 * A uv_poll_t on the main event loop (libuv `uv_poll_init`). The callback
 * gets libuv's status (0, or a negative errno such as UV_EBADF after POLLERR,
 * which also stops the watcher) and the ready events.
 */
export interface NativeFdWatcher {
  /** uv_poll_start: `events` is UV_READABLE | UV_WRITABLE | UV_DISCONNECT; level-triggered. */
  start(events: number): void;
  /** uv_poll_stop: no more callbacks until started again; an idle watcher costs nothing. */
  stop(): void;
  /** uv_close: stops and frees the handle; the descriptor itself stays open. Idempotent. */
  close(): void;
  /** uv_ref / uv_unref: whether a started watcher keeps the event loop alive. */
  setRef(ref: boolean): void;
}

export interface PollNative {
  FdWatcher: new (fd: number, callback: (status: number, events: number) => void) => NativeFdWatcher;
  /** pidfd_open(2): a descriptor that polls readable once the process has exited; -1 if it does not exist (ESRCH). */
  pidfdOpen(pid: number): number;
  /** read(2) on a non-blocking descriptor: bytes read, 0 at end of file, -1 for EAGAIN. */
  readNonBlocking(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  /** write(2) on a non-blocking descriptor: bytes written, -1 for EAGAIN. */
  writeNonBlocking(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  /**
   * One write(2) per (start, length) slice of `pairs[2*from …]`: returns how
   * many were written whole, stopping at EAGAIN. Slices of at most PIPE_BUF
   * bytes are atomic on a pipe or FIFO; a short write throws EIO.
   */
  writeEach(fd: number, buffer: Uint8Array, pairs: Int32Array, from: number, count: number, pageRun?: number): number;
  readonly UV_READABLE: number;
  readonly UV_WRITABLE: number;
  readonly UV_DISCONNECT: number;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeAddon extends PollNative {}

// ---- mq.cc: POSIX message queues ---------------------------------------------

/** mq_attr — mq_getattr(3). */
export interface MqAttr {
  /** mq_flags: 0 or O_NONBLOCK. */
  flags: number;
  /** mq_maxmsg: messages the queue holds. */
  maxmsg: number;
  /** mq_msgsize: bytes per message at most. */
  msgsize: number;
  /** mq_curmsgs: messages in the queue now. */
  curmsgs: number;
}

/** A Linux mqd_t is a file descriptor: watch it with FdWatcher. */
export interface MqNative {
  /** mq_open(3). With MQ_O_CREAT and maxmsg > 0 the queue gets mq_maxmsg/mq_msgsize; `mode` is exact (fchmod after an exclusive create; the process umask is never changed). */
  mqOpen(name: string, oflag: number, mode: number, maxmsg: number, msgsize: number): number;
  /** mq_send(3): true when sent, false when the queue is full (EAGAIN). */
  mqSend(mqd: number, buffer: Uint8Array, offset: number, length: number, priority: number): boolean;
  /** mq_send(3) for each (start, length) of `pairs[2*from …]`, `count` of them: how many were sent before the queue was full. */
  mqSendBatch(mqd: number, buffer: Uint8Array, pairs: Int32Array, from: number, count: number, priority: number): number;
  /** mq_receive(3): the message length (0 is an empty message), or -1 when the queue is empty. `length` >= mq_msgsize. */
  mqReceive(mqd: number, buffer: Uint8Array, offset: number, length: number): number;
  /**
   * mq_receive(3) repeatedly, messages back to back into `buffer[offset, end)`,
   * their (start, length) into `pairs[0 …]`: returns the count, 0 when empty.
   * Stops at EAGAIN, after `maxCount`, or with fewer than `msgsize` bytes left.
   */
  mqReceiveBatch(mqd: number, buffer: Uint8Array, offset: number, end: number, msgsize: number, pairs: Int32Array, maxCount: number): number;
  /** mq_getattr(3). */
  mqGetAttr(mqd: number): MqAttr;
  /** mq_close(3). */
  mqClose(mqd: number): void;
  /** mq_unlink(3). */
  mqUnlink(name: string): void;
  readonly MQ_O_RDONLY: number;
  readonly MQ_O_WRONLY: number;
  readonly MQ_O_RDWR: number;
  readonly MQ_O_CREAT: number;
  readonly MQ_O_EXCL: number;
  readonly MQ_O_NONBLOCK: number;
  readonly MQ_O_CLOEXEC: number;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeAddon extends MqNative {}

// Every function above checks its arguments before any system call: a wrong
// type throws TypeError, an out-of-range number RangeError (see native/args.h).
// Timeouts: negative, or above 1e12 ms, wait without a deadline; NaN is refused.

// ---- peercred.cc: who is at the other end of a Unix socket --------------------

/** struct ucred — SO_PEERCRED, socket(7). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export interface PeerCredNative {
  /** getsockopt(SO_PEERCRED) on a connected Unix socket: the peer's pid, uid and gid at connect(2). */
  peerCredentials(fd: number): PeerCredentials;
  /** setsockopt(SO_SNDBUF) when `bytes` > 0, then getsockopt(SO_SNDBUF): the send buffer the kernel granted. */
  socketSendBuffer(fd: number, bytes: number): number;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeAddon extends PeerCredNative {}
// ---- process.cc: process lifetime ---------------------------------------------

export interface ProcessNative {
  /**
   * prctl(2) PR_SET_PDEATHSIG: the kernel sends `signal` to this process when
   * its parent dies. Returns false when getppid() is no longer
   * `expectedParentPid` (the parent died before the call: no signal will come).
   */
  setParentDeathSignal(signal: number, expectedParentPid: number): boolean;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeAddon extends ProcessNative {}

// ---- lock.cc: open-file-description locks ------------------------------------

export interface LockNative {
  /** fcntl(2) F_OFD_SETLK on bytes [start, start + length), never waiting: type 0 unlock, 1 read, 2 write; false when another open file description holds a conflicting lock. */
  ofdLock(fd: number, type: 0 | 1 | 2, start: number, length: number): boolean;
  /** fcntl(2) F_OFD_GETLK for a write lock on [start, start + length): true when another open file description holds a lock on any of those bytes. */
  ofdHeld(fd: number, start: number, length: number): boolean;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeAddon extends LockNative {}

// ---- guard.cc: shared mappings a peer cannot crash us through ---------------

export interface GuardNative {
  /**
   * mmap(2) PROT_READ|PROT_WRITE, MAP_SHARED (| MAP_POPULATE) of `size` bytes
   * of `fd` from offset 0, registered with the SIGBUS guard: should the file
   * shrink under it, a touch past the new end maps zero pages over the whole
   * mapping instead of killing the process, and counts it in guardCounts()
   * at 1 + `slot`. The mapping goes when `buffer` is collected.
   */
  mapShared(fd: number, size: number, populate: boolean): { buffer: Buffer; slot: number };
  /** The guard's counts: [0] truncated mappings in this process so far; [1 + slot] that mapping's (0 while intact). */
  guardCounts(): Int32Array;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeAddon extends GuardNative {}

// ---- dup.cc: duplicated descriptors -------------------------------------------

export interface DupNative {
  /** fcntl(F_DUPFD_CLOEXEC) — fcntl(2): a second descriptor for the open file behind `fd`. */
  dupCloexec(fd: number): number;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeAddon extends DupNative {}
