import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { DEFAULT_PREFIX, fromSystemError, posixName, validatePrefix, type RemoveStaleOptions, type StaleEntry } from "@ipc-sampler/core";
import { native } from "./loader.js";
import { lockOwner, ownerHeldOn } from "./owner.js";
import { sweepStale } from "./sweep.js";
import type { MqAttr } from "./native.js";

export type { MqAttr } from "./native.js";

/** Where Linux documents the mqueue file system (mq_overview(7)); often not mounted. */
export const MQUEUE_DIR = "/dev/mqueue";

/** Kernel limits for unprivileged queues, from /proc/sys/fs/mqueue (mq_overview(7)). */
export interface MqLimits {
  /** /proc/sys/fs/mqueue/msg_max: the largest mq_maxmsg without CAP_SYS_RESOURCE. */
  msgMax: number;
  /** /proc/sys/fs/mqueue/msgsize_max: the largest mq_msgsize without CAP_SYS_RESOURCE. */
  msgsizeMax: number;
  /** /proc/sys/fs/mqueue/queues_max: queues per IPC namespace. */
  queuesMax: number;
}

function readProcNumber(file: string, fallback: number): number {
  try {
    const n = Number(readFileSync(file, "utf8").trim());
    return Number.isFinite(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

/** Reads /proc/sys/fs/mqueue/{msg_max,msgsize_max,queues_max}; Linux defaults where unreadable. */
export function mqLimits(): MqLimits {
  return {
    msgMax: readProcNumber("/proc/sys/fs/mqueue/msg_max", 10),
    msgsizeMax: readProcNumber("/proc/sys/fs/mqueue/msgsize_max", 8192),
    queuesMax: readProcNumber("/proc/sys/fs/mqueue/queues_max", 256),
  };
}

export interface MqCreateOptions {
  /** mq_attr.mq_maxmsg — mq_open(3). Messages the queue holds (default: msg_max). */
  maxMessages?: number;
  /** mq_attr.mq_msgsize — mq_open(3). Bytes per message at most (default: msgsize_max). */
  messageSize?: number;
  /** mode — mq_open(3). Permission bits, applied exactly (default 0o600). */
  mode?: number;
  /** O_RDONLY, O_WRONLY or O_RDWR (default "read"). */
  access?: "read" | "write" | "readwrite";
}

export interface MqOpenOptions {
  /** O_RDONLY, O_WRONLY or O_RDWR (default "write"). */
  access?: "read" | "write" | "readwrite";
}

/** An open queue: its descriptor and the attributes the kernel granted. */
export interface MqHandle {
  readonly name: string;
  readonly mqd: number;
  readonly maxMessages: number;
  readonly messageSize: number;
  /** mq_close(3) of `mqd` (for a creator: gives up ownership). Idempotent. */
  close(): void;
}

function handleOf(name: string, mqd: number): MqHandle {
  const attr = mqGetAttr(mqd, name);
  let open = true;
  return {
    name,
    mqd,
    maxMessages: attr.maxmsg,
    messageSize: attr.msgsize,
    close() {
      if (open) {
        open = false;
        mqClose(mqd);
      }
    },
  };
}

function accessFlag(access: "read" | "write" | "readwrite"): number {
  const n = native();
  return access === "read" ? n.MQ_O_RDONLY : access === "write" ? n.MQ_O_WRONLY : n.MQ_O_RDWR;
}

function checkCount(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1 || value > 0x7fffffff) throw new RangeError(`${what} must be a positive integer; got ${value}`);
}

/**
 * mq_open(3) with O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC: creates a new
 * queue (EEXIST if the name is taken). Sizes over the /proc limits are asked
 * for as given (root may exceed them); if the kernel refuses them (EINVAL,
 * EPERM, or EMFILE over RLIMIT_MSGQUEUE), the limits are used instead.
 */
export function mqCreate(name: string, options: MqCreateOptions = {}): MqHandle {
  const q = posixName(name, "message queue");
  const limits = mqLimits();
  const maxMessages = options.maxMessages ?? limits.msgMax;
  const messageSize = options.messageSize ?? limits.msgsizeMax;
  checkCount(maxMessages, "maxMessages");
  checkCount(messageSize, "messageSize");
  const mode = options.mode ?? 0o600;
  const n = native();
  const flags = accessFlag(options.access ?? "read") | n.MQ_O_CREAT | n.MQ_O_EXCL | n.MQ_O_NONBLOCK | n.MQ_O_CLOEXEC;
  let mqd: number;
  try {
    mqd = n.mqOpen(q, flags, mode, maxMessages, messageSize);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const over = maxMessages > limits.msgMax || messageSize > limits.msgsizeMax;
    if (!over || (code !== "EINVAL" && code !== "EPERM" && code !== "EMFILE")) throw fromSystemError(err, "create message queue", q);
    try {
      mqd = n.mqOpen(q, flags, mode, Math.min(maxMessages, limits.msgMax), Math.min(messageSize, limits.msgsizeMax));
    } catch (again) {
      throw fromSystemError(again, "create message queue", q);
    }
  }
  // The creator owns the queue while this descriptor is open (see owner.ts).
  try {
    lockOwner(mqd, q);
  } catch (err) {
    mqClose(mqd);
    throw err;
  }
  return handleOf(q, mqd);
}

/** mq_open(3) of an existing queue, O_NONBLOCK | O_CLOEXEC (ENOENT if there is none). */
export function mqOpen(name: string, options: MqOpenOptions = {}): MqHandle {
  const q = posixName(name, "message queue");
  const n = native();
  let mqd: number;
  try {
    mqd = n.mqOpen(q, accessFlag(options.access ?? "write") | n.MQ_O_NONBLOCK | n.MQ_O_CLOEXEC, 0, 0, 0);
  } catch (err) {
    throw fromSystemError(err, "open message queue", q);
  }
  return handleOf(q, mqd);
}

/** Whether a live process owns the queue (holds the lock on it; see owner.ts); undefined when it cannot be opened. */
export function mqOwnerAlive(name: string): boolean | undefined {
  const q = posixName(name, "message queue");
  const n = native();
  let mqd: number;
  try {
    mqd = n.mqOpen(q, n.MQ_O_RDONLY | n.MQ_O_NONBLOCK | n.MQ_O_CLOEXEC, 0, 0, 0);
  } catch {
    return undefined;
  }
  try {
    return ownerHeldOn(mqd);
  } finally {
    n.mqClose(mqd);
  }
}

/** True when a queue of this name exists now (mq_open without O_CREAT succeeds or is refused for permission). */
export function mqExists(name: string): boolean {
  const q = posixName(name, "message queue");
  const n = native();
  try {
    n.mqClose(n.mqOpen(q, n.MQ_O_RDONLY | n.MQ_O_NONBLOCK | n.MQ_O_CLOEXEC, 0, 0, 0));
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") return false;
    if (code === "EACCES") return true;
    throw fromSystemError(err, "look up message queue", q);
  }
}

/** mq_send(3), non-blocking: true when sent, false when the queue is full. */
export function mqSend(mqd: number, message: Uint8Array, priority = 0): boolean {
  try {
    return native().mqSend(mqd, message, 0, message.length, priority);
  } catch (err) {
    throw fromSystemError(err, "send to message queue", `mqd ${mqd}`);
  }
}

/**
 * mq_send(3) of `count` messages, the (start, length) slices of `buffer` in
 * `pairs[2*from …]`, in one native call: returns how many were sent before
 * the queue was full.
 */
export function mqSendBatch(mqd: number, buffer: Uint8Array, pairs: Int32Array, from: number, count: number, priority = 0): number {
  try {
    return native().mqSendBatch(mqd, buffer, pairs, from, count, priority);
  } catch (err) {
    throw fromSystemError(err, "send to message queue", `mqd ${mqd}`);
  }
}

/**
 * mq_receive(3), non-blocking, into `buffer[offset, offset + length)`
 * (`length` at least the queue's message size): the message length, or -1
 * when the queue is empty.
 */
export function mqReceive(mqd: number, buffer: Uint8Array, offset = 0, length = buffer.length - offset): number {
  try {
    return native().mqReceive(mqd, buffer, offset, length);
  } catch (err) {
    throw fromSystemError(err, "receive from message queue", `mqd ${mqd}`);
  }
}

/**
 * Drains up to `maxCount` messages in one native call, back to back into
 * `buffer[offset, end)`; message i is `buffer.subarray(pairs[2i], pairs[2i] +
 * pairs[2i+1])`. Returns the count (0: the queue was empty). Allocates nothing.
 */
export function mqReceiveBatch(mqd: number, buffer: Uint8Array, offset: number, end: number, messageSize: number, pairs: Int32Array, maxCount = pairs.length >>> 1): number {
  try {
    return native().mqReceiveBatch(mqd, buffer, offset, end, messageSize, pairs, maxCount);
  } catch (err) {
    throw fromSystemError(err, "receive from message queue", `mqd ${mqd}`);
  }
}

/** mq_getattr(3). */
export function mqGetAttr(mqd: number, resource = `mqd ${mqd}`): MqAttr {
  try {
    return native().mqGetAttr(mqd);
  } catch (err) {
    throw fromSystemError(err, "read the attributes of message queue", resource);
  }
}

/** mq_close(3). */
export function mqClose(mqd: number): void {
  try {
    native().mqClose(mqd);
  } catch (err) {
    throw fromSystemError(err, "close message queue", `mqd ${mqd}`);
  }
}

/** mq_unlink(3): the name goes at once; the queue lives on until its last descriptor closes. */
export function mqUnlink(name: string): void {
  const q = posixName(name, "message queue");
  try {
    native().mqUnlink(q);
  } catch (err) {
    throw fromSystemError(err, "remove message queue", q);
  }
}

/**
 * Where the mqueue file system is mounted in this mount namespace (from
 * /proc/self/mountinfo), or undefined. Without a mount, queues work but
 * cannot be listed.
 */
export function mqueueMountPoint(): string | undefined {
  let mounts: string;
  try {
    mounts = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    // no /proc: guess from the directory
    return existsSync(MQUEUE_DIR) ? MQUEUE_DIR : undefined;
  }
  for (const line of mounts.split("\n")) {
    const dash = line.indexOf(" - ");
    if (dash < 0) continue;
    if (line.slice(dash + 3).split(" ")[0] === "mqueue") return line.split(" ")[4];
  }
  // An empty /dev/mqueue directory is not a mount: listing it would find nothing.
  return undefined;
}

/**
 * Makes queues listable where they are not: when no mqueue file system is
 * mounted and this process may mount one (root), mounts it at /dev/mqueue,
 * where systemd and Docker put it, and leaves it there. Returns the mount
 * point, or why there is none (then list() finds nothing and removeStale()
 * cannot see a queue a killed receiver left: it stays until removed by name
 * or until the IPC namespace ends).
 */
export function mountMqueue(): { mountPoint: string } | { reason: string } {
  const found = mqueueMountPoint();
  if (found) return { mountPoint: found };
  if (process.getuid?.() !== 0) return { reason: "no mqueue file system is mounted, and mounting one needs root" };
  try {
    mkdirSync(MQUEUE_DIR, { recursive: true });
  } catch (err) {
    return { reason: `cannot create ${MQUEUE_DIR}: ${(err as Error).message}` };
  }
  const r = spawnSync("mount", ["-t", "mqueue", "none", MQUEUE_DIR], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) return { reason: `mount -t mqueue none ${MQUEUE_DIR} failed: ${(r.stderr ?? "").trim() || r.error?.message || `exit ${r.status}`}` };
  return { mountPoint: MQUEUE_DIR };
}

/** Queue names (`/name`) starting with `prefix`, read from the mqueue mount; [] when none is mounted. */
export function mqList(prefix = DEFAULT_PREFIX, directory = mqueueMountPoint()): string[] {
  validatePrefix(prefix);
  if (!directory) return [];
  try {
    return readdirSync(directory)
      .filter((n) => n.startsWith(prefix))
      .map((n) => "/" + n);
  } catch {
    return [];
  }
}

/** mq_unlink(3) that is fine when the queue is gone already. */
export function mqRemove(name: string): void {
  try {
    mqUnlink(name);
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") throw err;
  }
}

/** Unlinks queues with this prefix that no live process owns (see owner.ts); needs a mounted mqueue file system to list them. */
export function sweepQueues(options: RemoveStaleOptions = {}, directory = mqueueMountPoint()): StaleEntry[] {
  return sweepStale("queue", mqList(options.prefix ?? DEFAULT_PREFIX, directory), options, {
    pathOf: (name) => (directory ? `${directory}${name}` : undefined),
    held: mqOwnerAlive,
    remove: mqRemove,
  });
}
