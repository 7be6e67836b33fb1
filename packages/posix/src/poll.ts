import { getSystemErrorName } from "node:util";
import { ChannelError, fromSystemError, isProcessAlive } from "@ipc-sampler/core";
import { native } from "./loader.js";
import type { NativeFdWatcher } from "./native.js";

/** UV_READABLE — uv_poll(3): data to read, or a pidfd whose process exited. */
export const READABLE = 1;
/** UV_WRITABLE — uv_poll(3): room to write (POLLOUT also works on an mqd_t). */
export const WRITABLE = 2;
/** UV_DISCONNECT — uv_poll(3): the peer hung up (POLLRDHUP). */
export const DISCONNECT = 4;

/** `error` is set (and the watcher stopped) when libuv reports POLLERR or another failure. */
export type ReadinessCallback = (error: ChannelError | undefined, events: number) => void;

function uvError(status: number, syscall: string, resource: string): ChannelError {
  let code = "EUNKNOWN";
  try {
    code = getSystemErrorName(status);
  } catch {
    // not an errno
  }
  return fromSystemError({ code, errno: status, syscall, message: `${syscall} failed: ${code}` }, "watch", resource);
}

/**
 * Readiness of a descriptor, reported on the Node event loop (a libuv
 * uv_poll_t). Level-triggered: while a watched event holds, the callback runs
 * once per loop turn. A stopped watcher costs nothing; a started one keeps the
 * loop alive unless `unref()`ed. Closing the watcher leaves the descriptor
 * open: close it after the watcher.
 */
export class FdWatcher {
  private readonly handle: NativeFdWatcher;
  private current = 0;
  private isClosed = false;

  constructor(readonly fd: number, callback: ReadinessCallback, readonly resource = `fd ${fd}`) {
    const onReady = (status: number, events: number): void => {
      if (status < 0) {
        this.current = 0;
        callback(uvError(status, "uv_poll", resource), 0);
      } else {
        callback(undefined, events);
      }
    };
    try {
      this.handle = new (native().FdWatcher)(fd, onReady);
    } catch (err) {
      throw fromSystemError(err, "watch", resource);
    }
  }

  /** The events watched now (0: stopped). */
  get events(): number {
    return this.current;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Watches exactly `events` (READABLE | WRITABLE | DISCONNECT); 0 stops. */
  start(events: number): void {
    if (this.isClosed) throw new ChannelError("ECLOSED", `cannot watch ${this.resource}: the watcher is closed`, { resource: this.resource });
    if (events === this.current) return;
    if (events === 0) return this.stop();
    try {
      this.handle.start(events);
    } catch (err) {
      throw fromSystemError(err, "watch", this.resource);
    }
    this.current = events;
  }

  stop(): void {
    if (this.current === 0 || this.isClosed) return;
    this.handle.stop();
    this.current = 0;
  }

  /** A started watcher keeps the event loop alive (the default). */
  ref(): this {
    if (!this.isClosed) this.handle.setRef(true);
    return this;
  }

  /** A started watcher no longer keeps the event loop alive on its own. */
  unref(): this {
    if (!this.isClosed) this.handle.setRef(false);
    return this;
  }

  /** Stops and releases the watcher (not the descriptor). Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.current = 0;
    this.handle.close();
  }
}

/**
 * pidfd_open(2): a descriptor that polls readable once process `pid` has
 * exited. Returns undefined when no such process exists (it has gone).
 * Close it with `closeFd`.
 */
export function pidfdOpen(pid: number): number | undefined {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`pid must be a positive integer; got ${pid}`);
  let fd: number;
  try {
    fd = native().pidfdOpen(pid);
  } catch (err) {
    throw fromSystemError(err, "watch process", String(pid));
  }
  return fd < 0 ? undefined : fd;
}

/** A running watch on a process; `close()` stops it without calling back. */
export interface ProcessExitWatch {
  close(): void;
}

const FALLBACK_POLL_MS = 250;

/**
 * Calls `onExit` once when process `pid` has exited: through a pidfd on the
 * event loop, so it costs nothing while the process lives. If the process is
 * already gone, `onExit` runs on the next turn. Kernels without pidfd_open
 * (before 5.3) fall back to a signal-0 probe every 250 ms. The watch never
 * keeps the event loop alive on its own.
 */
export function watchProcessExit(pid: number, onExit: () => void): ProcessExitWatch {
  let done = false;
  const fire = () => {
    if (done) return;
    done = true;
    onExit();
  };
  let fd: number | undefined;
  try {
    fd = pidfdOpen(pid);
  } catch (err) {
    if ((err as ChannelError).errno !== "ENOSYS") throw err;
    const timer = setInterval(() => {
      if (!isProcessAlive(pid)) {
        clearInterval(timer);
        fire();
      }
    }, FALLBACK_POLL_MS).unref();
    return {
      close() {
        done = true;
        clearInterval(timer);
      },
    };
  }
  if (fd === undefined) {
    const immediate = setImmediate(fire);
    return {
      close() {
        done = true;
        clearImmediate(immediate);
      },
    };
  }
  const pidfd = fd;
  let watcher: FdWatcher | undefined;
  const release = () => {
    if (!watcher) return;
    watcher.close();
    watcher = undefined;
    native().close(pidfd);
  };
  watcher = new FdWatcher(pidfd, () => {
    release();
    fire();
  }, `process ${pid}`);
  watcher.unref();
  watcher.start(READABLE);
  return {
    close() {
      done = true;
      release();
    },
  };
}

/**
 * read(2) on a non-blocking descriptor: bytes read, 0 at end of file, -1 when
 * nothing is there (EAGAIN: no exception, no allocation).
 */
export function readNonBlocking(fd: number, buffer: Uint8Array, offset: number, length: number): number {
  try {
    return native().readNonBlocking(fd, buffer, offset, length);
  } catch (err) {
    throw fromSystemError(err, "read from", `fd ${fd}`);
  }
}

/** write(2) on a non-blocking descriptor: bytes written, -1 when it is full (EAGAIN). */
export function writeNonBlocking(fd: number, buffer: Uint8Array, offset: number, length: number): number {
  try {
    return native().writeNonBlocking(fd, buffer, offset, length);
  } catch (err) {
    throw fromSystemError(err, "write to", `fd ${fd}`);
  }
}

/**
 * One write(2) per (start, length) slice in `pairs[2*from …]`, `count` of
 * them, in one native call: returns how many went out whole before the
 * descriptor was full. Slices of at most PIPE_BUF bytes are atomic on a pipe
 * or FIFO, so several writers' slices never interleave.
 *
 * `pageRun` (0, or a power of two up to PIPE_BUF): adjacent slices of exactly
 * that many bytes share one write(2). On Linux a pipe write whose length is a
 * multiple of the page size fills whole pages of its own, and another writer
 * gets in only between pages, so such a run is never cut inside a slice.
 */
export function writeEach(fd: number, buffer: Uint8Array, pairs: Int32Array, from: number, count: number, pageRun = 0): number {
  try {
    return native().writeEach(fd, buffer, pairs, from, count, pageRun);
  } catch (err) {
    throw fromSystemError(err, "write to", `fd ${fd}`);
  }
}
