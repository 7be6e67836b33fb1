import { existsSync, readdirSync } from "node:fs";
import { ChannelError, DEFAULT_PREFIX, fromSystemError, posixName, validatePrefix, type RemoveStaleOptions, type StaleEntry } from "@ipc-sampler/core";
import { holdOwnerLock, ownerLockHeld, type OwnerLock } from "./owner.js";
import { sweepStale } from "./sweep.js";
import { native } from "./loader.js";
import type { SemHandle } from "./native.js";

/** Where glibc keeps named semaphores: `/name` is the file /dev/shm/sem.name. */
export const SEM_DIR = "/dev/shm";
const SEM_FILE_PREFIX = "sem.";

/** SEM_VALUE_MAX on Linux. */
export const SEM_VALUE_MAX = 0x7fffffff;

export interface SemOpenOptions {
  /** O_CREAT — sem_open(3). Create the semaphore when it does not exist. */
  create?: boolean;
  /** O_EXCL — sem_open(3). With `create`: fail with EEXIST when it exists. */
  exclusive?: boolean;
  /** mode — sem_open(3). Permission bits when creating (default 0o600), applied exactly. */
  mode?: number;
  /** value — sem_open(3). Initial count when creating (default 0). */
  value?: number;
}

/** A shared-memory word the addon writes right after an acquire (or right before a post). */
export interface SemMark {
  readonly words: Int32Array;
  readonly index: number;
  readonly value: number;
}

/**
 * One open POSIX named semaphore (sem_t*). Thin: every method is one system
 * call, except `wait`, which runs sem_clockwait on this handle's own waiter
 * thread and resolves on the event loop.
 */
export interface PosixSemaphore {
  /** The POSIX name, with its leading slash. */
  readonly name: string;
  /** sem_post(3). */
  post(mark?: SemMark): void;
  /** sem_trywait(3): true when a unit was taken. */
  tryWait(mark?: SemMark): boolean;
  /**
   * sem_clockwait(3) off the event loop: resolves true when a unit was taken,
   * false when `timeoutMs` passed (negative: no deadline). Rejects with
   * ChannelError ECLOSED when `cancel()` or `close()` ended it. One at a time.
   */
  wait(timeoutMs: number, mark?: SemMark): Promise<boolean>;
  /** Ends the pending wait (ECLOSED) within SEM_WAIT_SLICE_MS. */
  cancel(): void;
  /** sem_getvalue(3). */
  readonly value: number;
  /** sem_close(3); a pending wait rejects with ECLOSED. Idempotent. */
  close(): void;
  readonly closed: boolean;
}

/** The file glibc uses for a POSIX semaphore name. */
export function semaphorePath(name: string): string {
  return `${SEM_DIR}/${SEM_FILE_PREFIX}${posixName(name, "semaphore").slice(1)}`;
}

/** sem_open(3). Validates the name (EINVALIDNAME) before it reaches C. */
export function semOpen(name: string, options: SemOpenOptions = {}): PosixSemaphore {
  const full = posixName(name, "semaphore");
  const value = options.value ?? 0;
  if (!Number.isInteger(value) || value < 0 || value > SEM_VALUE_MAX) {
    throw new RangeError(`semaphore value must be an integer from 0 to ${SEM_VALUE_MAX}; got ${value}`);
  }
  const mode = options.mode ?? 0o600;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new RangeError(`mode must be permission bits such as 0o600; got ${mode}`);
  const create = options.create ?? false;
  const n = native();
  let handle: SemHandle;
  try {
    handle = n.semOpen(full, create, create && (options.exclusive ?? false), mode, value);
  } catch (err) {
    throw fromSystemError(err, create ? "create semaphore" : "open semaphore", full);
  }
  // An exclusive creator owns the semaphore while this handle is open (see owner.ts).
  let owner: OwnerLock | undefined;
  if (create && options.exclusive) {
    try {
      owner = holdOwnerLock(semaphorePath(full));
    } catch (err) {
      n.semClose(handle);
      throw err;
    }
  }
  return wrap(full, handle, owner);
}

function wrap(name: string, handle: SemHandle, owner: OwnerLock | undefined): PosixSemaphore {
  const n = native();
  let closed = false;
  let waiting = false;
  let rejectPending: ((err: ChannelError) => void) | undefined;
  const gone = (action: string) => new ChannelError("ECLOSED", `cannot ${action} semaphore ${name}: it is closed`, { resource: name });
  return {
    name,
    get closed() {
      return closed;
    },
    post(mark) {
      if (closed) throw gone("post");
      try {
        if (mark) n.semPost(handle, mark.words, mark.index, mark.value);
        else n.semPost(handle);
      } catch (err) {
        throw fromSystemError(err, "post semaphore", name);
      }
    },
    tryWait(mark) {
      if (closed) throw gone("wait on");
      try {
        return mark ? n.semTryWait(handle, mark.words, mark.index, mark.value) : n.semTryWait(handle);
      } catch (err) {
        throw fromSystemError(err, "wait on semaphore", name);
      }
    },
    wait(timeoutMs, mark) {
      if (closed) return Promise.reject(gone("wait on"));
      if (waiting) return Promise.reject(new ChannelError("ESYSCALL", `cannot wait on semaphore ${name}: a wait is already pending on this handle`, { resource: name }));
      waiting = true;
      return new Promise<boolean>((resolve, reject) => {
        rejectPending = reject;
        const done = (err: Error | null, acquired: boolean) => {
          waiting = false;
          rejectPending = undefined;
          if (!err) return resolve(acquired);
          const code = (err as { code?: string }).code;
          if (code === "ECANCELED") reject(new ChannelError("ECLOSED", `stopped waiting on semaphore ${name}: the wait was cancelled or the handle closed`, { resource: name, errno: code, syscall: "sem_clockwait", cause: err }));
          else reject(fromSystemError(err, "wait on semaphore", name));
        };
        try {
          if (mark) n.semWait(handle, timeoutMs, done, mark.words, mark.index, mark.value);
          else n.semWait(handle, timeoutMs, done);
        } catch (err) {
          waiting = false;
          rejectPending = undefined;
          reject(fromSystemError(err, "wait on semaphore", name));
        }
      });
    },
    cancel() {
      if (!closed) n.semCancel(handle);
    },
    get value() {
      if (closed) throw gone("read");
      try {
        return n.semGetValue(handle);
      } catch (err) {
        throw fromSystemError(err, "read semaphore", name);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      n.semClose(handle);
      owner?.release();
      // The addon drops a pending wait on close: answer it here.
      waiting = false;
      const r = rejectPending;
      rejectPending = undefined;
      r?.(new ChannelError("ECLOSED", `stopped waiting on semaphore ${name}: the handle was closed`, { resource: name, syscall: "sem_clockwait" }));
    },
  };
}

/** sem_unlink(3): removes the name (processes that have it open keep using it). ENOENT is an error. */
export function semUnlink(name: string): void {
  const full = posixName(name, "semaphore");
  try {
    native().semUnlink(full);
  } catch (err) {
    throw fromSystemError(err, "remove semaphore", full);
  }
}

/** True when a semaphore of this name exists (its /dev/shm/sem.* file). */
export function semExists(name: string): boolean {
  return existsSync(semaphorePath(name));
}

/** POSIX names (with leading slash) of the semaphores whose name starts with `prefix`. */
export function listSemaphores(prefix = DEFAULT_PREFIX): string[] {
  validatePrefix(prefix);
  let files: string[];
  try {
    files = readdirSync(SEM_DIR);
  } catch {
    return [];
  }
  const head = SEM_FILE_PREFIX + prefix;
  return files.filter((f) => f.startsWith(head)).map((f) => "/" + f.slice(SEM_FILE_PREFIX.length));
}

/** Unlinks semaphores with this prefix that no live process owns (see owner.ts); returns what it decided for each. */
export function sweepSemaphores(options: RemoveStaleOptions = {}): StaleEntry[] {
  return sweepStale("semaphore", listSemaphores(options.prefix ?? DEFAULT_PREFIX), options, {
    pathOf: semaphorePath,
    held: (name) => ownerLockHeld(semaphorePath(name)),
    remove: removeSemaphore,
  });
}

/** Unlinks semaphores with this prefix that no live process owns; returns their names. */
export function removeStaleSemaphores(prefix = DEFAULT_PREFIX): string[] {
  return sweepSemaphores({ prefix }).filter((e) => e.outcome === "removed").map((e) => e.name);
}

/** sem_unlink(3) that is fine when the semaphore is gone already. */
export function removeSemaphore(name: string): void {
  try {
    semUnlink(name);
  } catch (err) {
    if (!ChannelError.is(err, "ENOENT")) throw err;
  }
}
