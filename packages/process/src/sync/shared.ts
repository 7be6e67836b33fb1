import { readFileSync, statSync } from "node:fs";
import { ChannelError, DEFAULT_PREFIX, removeOnExit, uniqueName } from "@ipc-sampler/core";
import { createSegment, FutexWaiter, openSegment, pidfdOpen, closeFd, truncatedError, viewTruncated, type FutexWaitResult, type MappedSegment } from "@ipc-sampler/posix";

/**
 * The shared-memory block behind every cross-process primitive: one /dev/shm
 * segment per object, 64 header words then the object's own words and data.
 * The creating process removes the name when it exits; a child re-opens it
 * by name from the small handle that crosses as a Process or Pool argument.
 */
export const MAGIC = 0x53594e31; // "SYN1"
export const HEADER_WORDS = 16;
export const DATA_OFFSET = 256;

export type SharedKind = "lock" | "rlock" | "event" | "semaphore" | "bounded-semaphore" | "condition" | "barrier" | "value" | "array" | "queue" | "joinable-queue";
const KIND_CODES: Record<SharedKind, number> = {
  lock: 1, rlock: 2, event: 3, semaphore: 4, "bounded-semaphore": 5, condition: 6, barrier: 7, value: 8, array: 9, queue: 10, "joinable-queue": 11,
};

/** What crosses to another process: the kind, the segment name and the shape parameters. */
export interface SharedHandle {
  readonly kind: SharedKind;
  readonly name: string;
  readonly params: readonly number[];
  readonly lock?: SharedHandle | undefined;
}

/** True for the plain object a shared primitive becomes when it crosses to another process. */
export function isSharedHandle(value: unknown): value is { $shared: SharedHandle } {
  const h = (value as { $shared?: SharedHandle } | null)?.$shared;
  return typeof value === "object" && value !== null && typeof h === "object" && h !== null && typeof h.name === "string" && typeof h.kind === "string" && Array.isArray(h.params);
}

export interface Block {
  readonly segment: MappedSegment;
  readonly words: Int32Array;
  readonly handle: SharedHandle;
}

/** Creates the segment of a new primitive; its name is removed when this process exits. */
export function createBlock(kind: SharedKind, params: readonly number[], bytes: number, lock?: SharedHandle): Block {
  const name = uniqueName(DEFAULT_PREFIX, "sync");
  const segment = createSegment(name, DATA_OFFSET + bytes);
  segment.close();
  const words = new Int32Array(segment.buffer.buffer, segment.buffer.byteOffset, segment.size >> 2);
  words[1] = KIND_CODES[kind];
  params.forEach((p, i) => (words[2 + i] = p));
  Atomics.store(words, 0, MAGIC);
  removeOnExit(() => segment.unlink());
  return { segment, words, handle: { kind, name, params: [...params], lock } };
}

/** Re-opens a primitive from its handle, checking that the segment holds what the handle says. */
export function openBlock(value: unknown, kind: SharedKind | readonly SharedKind[]): Block {
  if (!isSharedHandle(value)) throw new TypeError("expected a shared primitive or the handle it becomes in another process");
  const handle = value.$shared;
  const kinds = typeof kind === "string" ? [kind] : kind;
  if (!kinds.includes(handle.kind)) throw new TypeError(`expected a shared ${kinds.join(" or ")}; got a ${handle.kind}`);
  const segment = openSegment(handle.name);
  segment.close();
  if (segment.size < DATA_OFFSET || segment.size % 4 !== 0) throw new ChannelError("EPROTO", `cannot open ${segment.path}: it is ${segment.size} bytes`, { resource: segment.path });
  const words = new Int32Array(segment.buffer.buffer, segment.buffer.byteOffset, segment.size >> 2);
  if (Atomics.load(words, 0) !== MAGIC || words[1] !== KIND_CODES[handle.kind]) {
    throw new ChannelError("EPROTO", `cannot open ${segment.path}: it is not a shared ${handle.kind}`, { resource: segment.path });
  }
  for (let i = 0; i < handle.params.length; i++) {
    if (words[2 + i] !== handle.params[i]) throw new ChannelError("EPROTO", `cannot open ${segment.path}: its shape differs from the handle's`, { resource: segment.path });
  }
  return { segment, words, handle };
}

// ---- who holds a lock ------------------------------------------------------

/**
 * A holder is (pid, start time in clock ticks since boot, pid-namespace
 * inode). The start time tells a reused pid from the holder; the namespace
 * tells whether the pid means anything here: a process in another pid
 * namespace never judges a holder dead, it only waits.
 */
export interface Identity {
  readonly pid: number;
  readonly start: number;
  readonly ns: number;
}

function statOf(pid: number | "self"): { start: number; state: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { state: f[0]!, start: Number(f[19]) | 0 };
  } catch {
    return undefined;
  }
}

let self: Identity | undefined;
export function selfIdentity(): Identity {
  if (!self || self.pid !== process.pid) {
    self = { pid: process.pid, start: statOf("self")?.start ?? 0, ns: statSync("/proc/self/ns/pid").ino % 0x7fffffff };
  }
  return self;
}

/**
 * Has the holder gone? Only answered for a holder in this pid namespace: it
 * is gone when pidfd_open finds no process, when the process is a zombie,
 * or when the pid now belongs to a process started at another time.
 */
export function holderGone(h: Identity): boolean {
  if (h.pid <= 0 || h.ns !== selfIdentity().ns) return false;
  const fd = pidfdOpen(h.pid);
  if (fd === undefined) return true;
  try {
    const st = statOf(h.pid);
    return st === undefined || st.state === "Z" || st.state === "X" || st.start !== h.start;
  } finally {
    closeFd(fd);
  }
}

/**
 * Throws EPROTO once the segment under `words` was truncated by a peer: its
 * words then read as zeros in this process only (see MappedSegment), so a
 * lock would look free and a count empty. Checked where primitives take,
 * give back or wait; one load while nothing in this process was truncated.
 */
export function checkIntact(words: Int32Array): void {
  if (viewTruncated(words)) throw truncatedError("the segment of a shared primitive");
}

// ---- waiting on a word -----------------------------------------------------

export type WaitOutcome = "woken" | "timed-out" | "aborted";

/**
 * FUTEX_WAIT on one word without blocking the event loop. The native waiter
 * does one wait at a time; a second wait in this process rides on the first
 * and re-checks when it ends (a spurious wake-up, which every caller
 * tolerates), keeping its own deadline and signal.
 */
export class WordWaiter {
  #native: FutexWaiter | undefined;
  #busy: Promise<FutexWaitResult> | undefined;

  constructor(readonly words: Int32Array, readonly index: number) {}

  async wait(expected: number, timeoutMs: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (signal?.aborted) return "aborted";
    checkIntact(this.words);
    if (this.#busy) return ride(this.#busy, timeoutMs, signal);
    const fw = (this.#native ??= new FutexWaiter(this.words, this.index));
    const p = fw.wait(expected, timeoutMs);
    this.#busy = p;
    const onAbort = () => fw.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const r = await p;
      checkIntact(this.words);
      return r === "cancelled" ? (signal?.aborted ? "aborted" : "woken") : r;
    } finally {
      this.#busy = undefined;
      signal?.removeEventListener("abort", onAbort);
    }
  }

  close(): void {
    this.#native?.close();
    this.#native = undefined;
  }
}

function ride(busy: Promise<unknown>, timeoutMs: number, signal?: AbortSignal): Promise<WaitOutcome> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (r: WaitOutcome) => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(r);
    };
    const onAbort = () => done("aborted");
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs >= 0) timer = setTimeout(() => done("timed-out"), timeoutMs);
    busy.then(() => done("woken"), () => done("woken"));
  });
}

/** Options of every blocking call: `block: false` tries once; `timeoutMs` bounds the wait; `signal` aborts it. */
export interface BlockOptions {
  block?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export function deadlineOf(o: BlockOptions): number {
  const t = o.timeoutMs;
  if (t === undefined || t < 0 || !Number.isFinite(t)) return Infinity;
  return performance.now() + t;
}

export function remaining(deadline: number): number {
  return deadline === Infinity ? -1 : Math.max(0, deadline - performance.now());
}
