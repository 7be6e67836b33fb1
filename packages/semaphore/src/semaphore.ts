import {
  ChannelError,
  DEFAULT_PREFIX,
  posixName,
  removeOnExit,
} from "@ipc-sampler/core";
import {
  SEM_VALUE_MAX,
  listSemaphores,
  removeStaleSemaphores,
  semExists,
  semOpen,
  semUnlink,
  type PosixSemaphore,
} from "@ipc-sampler/posix";

export interface SemaphoreCreateOptions {
  /** value — sem_open(3). The initial count (default 0). */
  initial?: number;
  /** mode — sem_open(3). Permission bits, applied exactly (default 0o600). */
  mode?: number;
  /**
   * Keep the name after close() and process exit. By default the process
   * that created a semaphore removes its name (sem_unlink) on close(), on
   * normal exit and on SIGINT/SIGTERM; processes that merely opened it never do.
   */
  persistent?: boolean;
}

export interface AcquireOptions {
  /** sem_clockwait(3) deadline, in ms. Without it, wait as long as it takes. 0: fail at once unless free. */
  timeoutMs?: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  /** CLOCK_MONOTONIC-ish deadline (performance.now()), or -1. */
  deadline: number;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
}

/**
 * A POSIX named counting semaphore, shared by name with any process of the
 * same user. `tryAcquire` and `release` are single calls that stay in user
 * space when uncontended; `acquire` tries that first and only otherwise
 * waits on a dedicated thread, so the event loop keeps running.
 */
export class Semaphore {
  private readonly queue: Waiter[] = [];
  private active: Waiter | undefined;
  private isClosed = false;
  private unregister: (() => void) | undefined;

  private constructor(
    private readonly sem: PosixSemaphore,
    /** The POSIX name, with its leading slash. */
    readonly name: string,
    /** This handle created the name and removes it on close (unless persistent). */
    readonly owner: boolean,
  ) {
    if (owner) this.unregister = removeOnExit(() => semUnlink(name));
  }

  /** Creates a new semaphore; fails with ChannelError EEXIST when the name exists. */
  static create(name: string, options: SemaphoreCreateOptions = {}): Semaphore {
    const full = posixName(name, "semaphore");
    const sem = semOpen(full, { create: true, exclusive: true, mode: options.mode, value: checkInitial(options.initial) });
    return new Semaphore(sem, full, !options.persistent);
  }

  /** Opens an existing semaphore; ChannelError ENOENT when there is none. */
  static open(name: string): Semaphore {
    const full = posixName(name, "semaphore");
    return new Semaphore(semOpen(full), full, false);
  }

  /** Opens the semaphore, creating it (and owning its name) when it does not exist. */
  static openOrCreate(name: string, options: SemaphoreCreateOptions = {}): Semaphore {
    for (let attempt = 0; ; attempt++) {
      try {
        return Semaphore.create(name, options);
      } catch (err) {
        if (!ChannelError.is(err, "EEXIST")) throw err;
      }
      try {
        return Semaphore.open(name);
      } catch (err) {
        // Removed between our two calls: try again, a few times.
        if (!ChannelError.is(err, "ENOENT") || attempt >= 3) throw err;
      }
    }
  }

  /** sem_unlink(3): removes the name; returns false when it did not exist. */
  static remove(name: string): boolean {
    try {
      semUnlink(name);
      return true;
    } catch (err) {
      if (ChannelError.is(err, "ENOENT")) return false;
      throw err;
    }
  }

  static exists(name: string): boolean {
    return semExists(name);
  }

  /** Names (with leading slash) of the semaphores whose name starts with `prefix`. */
  static list(prefix = DEFAULT_PREFIX): string[] {
    return listSemaphores(prefix);
  }

  /** Removes semaphores with this prefix whose owner process (pid in the name) is gone. */
  static removeStale(prefix = DEFAULT_PREFIX): string[] {
    return removeStaleSemaphores(prefix);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** sem_getvalue(3): the count now (a snapshot; others may change it at once). */
  get value(): number {
    return this.sem.value;
  }

  private gone(action: string): ChannelError {
    return new ChannelError("ECLOSED", `cannot ${action} semaphore ${this.name}: this handle is closed`, { resource: this.name });
  }

  /** sem_trywait(3): takes one unit if there is one, without waiting. */
  tryAcquire(): boolean {
    if (this.isClosed) throw this.gone("acquire");
    // Waiters already queued in this process go first.
    if (this.active || this.queue.length > 0) return false;
    return this.sem.tryWait();
  }

  /**
   * Takes one unit, waiting if needed. Rejects with ChannelError ETIMEDOUT
   * after `timeoutMs`, or ECLOSED when close() is called meanwhile. Waiters
   * of one handle are served in order.
   */
  acquire(options: AcquireOptions = {}): Promise<void> {
    if (this.isClosed) return Promise.reject(this.gone("acquire"));
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined && (!(timeoutMs >= 0) || !Number.isFinite(timeoutMs))) {
      return Promise.reject(new RangeError(`timeoutMs must be a finite number of milliseconds >= 0; got ${timeoutMs}`));
    }
    try {
      if (!this.active && this.queue.length === 0 && this.sem.tryWait()) return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
    if (timeoutMs === 0) return Promise.reject(this.timedOut(0));
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { resolve, reject, deadline: timeoutMs === undefined ? -1 : performance.now() + timeoutMs, timer: undefined, settled: false };
      if (timeoutMs !== undefined) {
        // Only while queued behind another waiter; the active one's deadline is the kernel's.
        w.timer = setTimeout(() => {
          const i = this.queue.indexOf(w);
          if (i >= 0) {
            this.queue.splice(i, 1);
            this.settle(w, this.timedOut(timeoutMs));
          }
        }, timeoutMs);
        w.timer.unref();
      }
      this.queue.push(w);
      this.pump();
    });
  }

  private timedOut(ms: number): ChannelError {
    return new ChannelError("ETIMEDOUT", `cannot acquire semaphore ${this.name}: timed out after ${ms} ms`, { resource: this.name, errno: "ETIMEDOUT", syscall: "sem_clockwait" });
  }

  private settle(w: Waiter, err?: unknown): void {
    if (w.settled) return;
    w.settled = true;
    if (w.timer) clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve();
  }

  private pump(): void {
    if (this.active || this.isClosed) return;
    const w = this.queue.shift();
    if (!w) return;
    this.active = w;
    if (w.timer) {
      clearTimeout(w.timer);
      w.timer = undefined;
    }
    const remaining = w.deadline < 0 ? -1 : Math.max(0, w.deadline - performance.now());
    this.sem.wait(remaining).then(
      (acquired) => {
        this.active = undefined;
        if (acquired) {
          if (!w.settled) this.settle(w);
          else this.handOn();
        } else {
          this.settle(w, this.timedOut(Math.round(w.deadline < 0 ? 0 : remaining)));
        }
        this.pump();
      },
      (err) => {
        this.active = undefined;
        this.settle(w, this.isClosed ? this.gone("acquire") : err);
        this.pump();
      },
    );
  }

  /** A unit nobody here wants any more: to the next local waiter, or back. */
  private handOn(): void {
    const next = this.queue.shift();
    if (next) this.settle(next);
    else if (!this.isClosed) this.sem.post();
  }

  /** sem_post(3), `count` times. */
  release(count = 1): void {
    if (this.isClosed) throw this.gone("release");
    if (!Number.isInteger(count) || count < 1 || count > SEM_VALUE_MAX) throw new RangeError(`count must be a positive integer; got ${count}`);
    for (let i = 0; i < count; i++) this.sem.post();
  }

  /**
   * sem_close(3): pending acquires reject with ECLOSED (the waiter thread
   * lets go within ~100 ms). The creator also removes the name unless it was
   * created persistent.
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const err = this.gone("acquire");
    for (const w of this.queue.splice(0)) this.settle(w, err);
    if (this.active) this.settle(this.active, err);
    this.sem.close();
    if (this.unregister) {
      this.unregister();
      this.unregister = undefined;
      Semaphore.remove(this.name);
    }
  }
}

function checkInitial(initial = 0): number {
  if (!Number.isInteger(initial) || initial < 0 || initial > SEM_VALUE_MAX) {
    throw new RangeError(`initial must be an integer from 0 to ${SEM_VALUE_MAX}; got ${initial}`);
  }
  return initial;
}

export interface LockAcquireOptions extends AcquireOptions {
  /**
   * sem_trywait attempts before waiting on the waiter thread (default 64, a
   * few microseconds): a lock held for a short critical section by a process
   * on another core is usually free again by then.
   */
  spin?: number;
}

/**
 * A cross-process lock: a named semaphore with one unit. Not recursive, not
 * owner-checked by the kernel (any process may release it); this handle
 * refuses to release what it does not hold.
 */
export class Lock {
  private isHeld = false;

  private constructor(readonly semaphore: Semaphore) {}

  /** Creates a new, unlocked lock (EEXIST if the name exists). */
  static create(name: string, options: Omit<SemaphoreCreateOptions, "initial"> = {}): Lock {
    return new Lock(Semaphore.create(name, { ...options, initial: 1 }));
  }

  static open(name: string): Lock {
    return new Lock(Semaphore.open(name));
  }

  static openOrCreate(name: string, options: Omit<SemaphoreCreateOptions, "initial"> = {}): Lock {
    return new Lock(Semaphore.openOrCreate(name, { ...options, initial: 1 }));
  }

  static remove(name: string): boolean {
    return Semaphore.remove(name);
  }

  static exists(name: string): boolean {
    return Semaphore.exists(name);
  }

  get name(): string {
    return this.semaphore.name;
  }

  /** This handle holds the lock. */
  get held(): boolean {
    return this.isHeld;
  }

  tryAcquire(): boolean {
    if (this.isHeld) return false;
    if (this.semaphore.tryAcquire()) this.isHeld = true;
    return this.isHeld;
  }

  async acquire(options: LockAcquireOptions = {}): Promise<void> {
    const spin = options.spin ?? 64;
    for (let i = 0; i <= spin; i++) {
      if (this.semaphore.tryAcquire()) {
        this.isHeld = true;
        return;
      }
    }
    await this.semaphore.acquire(options);
    this.isHeld = true;
  }

  release(): void {
    if (!this.isHeld) throw new ChannelError("EPERM", `cannot release lock ${this.name}: this handle does not hold it`, { resource: this.name });
    this.isHeld = false;
    this.semaphore.release();
  }

  /** Runs `fn` holding the lock; releases it however `fn` ends. */
  async withLock<T>(fn: () => T | Promise<T>, options: LockAcquireOptions = {}): Promise<T> {
    await this.acquire(options);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  close(): void {
    this.isHeld = false;
    this.semaphore.close();
  }
}
