import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, unlinkSync, type BigIntStats } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  ChannelError,
  DEFAULT_PREFIX,
  fromSystemError,
  prefixedName,
  validatePrefix,
  waitForResource,
  type NamedCreateOptions,
  type NamedHandle,
  type NamedKind,
  type NamedKindId,
  type NamedListOptions,
  type NamedOpenOptions,
} from "@ipc-sampler/core";
import { mqCreate, mqExists, mqList, mqueueMountPoint, mqOpen, mqOwnerAlive, mqRemove, sweepQueues, type MqCreateOptions, type MqHandle } from "./mq.js";
import { LOCK_SUFFIX, holdOwnerLock, ownerLockHeld, type OwnerLock } from "./owner.js";
import { mkfifo } from "./pipe.js";
import { SHM_DIR, createSegment, listSegments, openSegment, removeSegment, segmentExists, sweepSegments, type MappedSegment } from "./segment.js";
import { listSemaphores, removeSemaphore, semExists, semOpen, semaphorePath, sweepSemaphores, type PosixSemaphore } from "./sem.js";
import { sweepStale } from "./sweep.js";

/**
 * The kinds of named resource, one object per kind with the verbs of
 * `NamedKind` (core): create (exclusive, 0600, prefixed), open with a
 * timeout, openOrCreate, exists, remove (idempotent), list, removeStale.
 * Ownership is the lock of owner.ts, never a pid.
 */

/** open(): see waitForResource (core); default timeout 0, look once. */
function waitOpen<H>(noun: string, name: string, options: NamedOpenOptions, attempt: () => H): Promise<H> {
  return waitForResource(noun, name, options.timeoutMs ?? 0, attempt);
}

/** openOrCreate(): create, or open what a racing creator made. */
async function openOrCreate<H>(create: () => H, open: () => Promise<H>): Promise<H> {
  try {
    return create();
  } catch (err) {
    if (!ChannelError.is(err, "EEXIST")) throw err;
    return open();
  }
}

export interface SegmentCreateOptions extends NamedCreateOptions {
  /** Bytes (default one page, 4096). */
  size?: number;
}

/** /dev/shm segments: files mapped MAP_SHARED (segment.ts). The creator's descriptor holds the owner lock. */
export const segments: NamedKind<MappedSegment, SegmentCreateOptions> = {
  kind: "segment",
  noun: "shared memory segment",
  create: (name, o = {}) => createSegment(prefixedName(name, "segment", o.prefix), o.size ?? 4096, { mode: o.mode }),
  open(name, o = {}) {
    const n = prefixedName(name, "segment", o.prefix);
    return waitOpen(this.noun, n, o, () => openSegment(n));
  },
  openOrCreate(name, o = {}) {
    return openOrCreate(() => this.create(name, o), () => this.open(name, o));
  },
  exists: (name, o = {}) => segmentExists(prefixedName(name, "segment", o.prefix)),
  remove: (name, o = {}) => removeSegment(prefixedName(name, "segment", o.prefix)),
  list: (o = {}) => listSegments(o.prefix ?? DEFAULT_PREFIX),
  ownerAlive: (name, o = {}) => ownerLockHeld(path.join(SHM_DIR, prefixedName(name, "segment", o.prefix))) === true,
  removeStale: (o = {}) => sweepSegments(o),
};

export interface SemaphoreCreateOptions extends NamedCreateOptions {
  /** Initial count (default 0). */
  value?: number;
}

const semName = (name: string, prefix?: string) => "/" + prefixedName(name, "semaphore", prefix, 251);

/** POSIX named semaphores (sem.ts); the creator's handle holds the owner lock on glibc's /dev/shm/sem.* file. */
export const semaphores: NamedKind<PosixSemaphore, SemaphoreCreateOptions> = {
  kind: "semaphore",
  noun: "semaphore",
  create: (name, o = {}) => semOpen(semName(name, o.prefix), { create: true, exclusive: true, value: o.value ?? 0, mode: o.mode }),
  open(name, o = {}) {
    const n = semName(name, o.prefix);
    return waitOpen(this.noun, n, o, () => semOpen(n));
  },
  openOrCreate(name, o = {}) {
    return openOrCreate(() => this.create(name, o), () => this.open(name, o));
  },
  exists: (name, o = {}) => semExists(semName(name, o.prefix)),
  remove: (name, o = {}) => removeSemaphore(semName(name, o.prefix)),
  list: (o = {}) => listSemaphores(o.prefix ?? DEFAULT_PREFIX),
  ownerAlive: (name, o = {}) => ownerLockHeld(semaphorePath(semName(name, o.prefix))) === true,
  removeStale: (o = {}) => sweepSemaphores(o),
};

export type QueueCreateOptions = NamedCreateOptions & Omit<MqCreateOptions, "mode">;

const queueName = (name: string, prefix?: string) => "/" + prefixedName(name, "message queue", prefix, 251);

/** POSIX message queues (mq.ts); the creator's queue descriptor holds the owner lock. Listing needs a mounted mqueue file system. */
export const queues: NamedKind<MqHandle, QueueCreateOptions> = {
  kind: "queue",
  noun: "message queue",
  create: (name, o = {}) => mqCreate(queueName(name, o.prefix), o),
  open(name, o = {}) {
    const n = queueName(name, o.prefix);
    return waitOpen(this.noun, n, o, () => mqOpen(n));
  },
  openOrCreate(name, o = {}) {
    return openOrCreate(() => this.create(name, o), () => this.open(name, o));
  },
  exists: (name, o = {}) => mqExists(queueName(name, o.prefix)),
  remove: (name, o = {}) => mqRemove(queueName(name, o.prefix)),
  list: (o = {}) => mqList(o.prefix ?? DEFAULT_PREFIX, o.directory ?? mqueueMountPoint()),
  ownerAlive: (name, o = {}) => mqOwnerAlive(queueName(name, o.prefix)) === true,
  removeStale: (o = {}) => sweepQueues(o, o.directory ?? mqueueMountPoint()),
};

/** A file-system node this process created and owns. */
export interface NodeHandle extends NamedHandle {
  readonly path: string;
}

export interface FileNodeOptions extends NamedCreateOptions {
  /** Directory of the node (default os.tmpdir()). */
  directory?: string;
}

export interface FileNodeKindSpec {
  kind: NamedKindId;
  noun: string;
  /** Only names ending with this are the kind's. */
  suffix?: string;
  /** Which directory entries are the kind's. */
  isNode(file: string): boolean;
  /** Creates the node at `file` exclusively (EEXIST); returns what close() releases. */
  make(file: string, mode: number): { close(): void };
  /** Opens an existing node for a peer (default: checks it exists). */
  attach?(file: string): { close(): void };
  /** Removes the node (default unlink). */
  unmake?(file: string): void;
  /** Lock on a file beside the node (sockets cannot be opened), or on the node itself. */
  lockBeside: boolean;
}

/**
 * A kind of file-system node in a directory: FIFOs, socket files, journal
 * directories. Names get the prefix and the kind's suffix.
 */
export function fileNodeKind(spec: FileNodeKindSpec): NamedKind<NodeHandle, FileNodeOptions> {
  const suffix = spec.suffix ?? "";
  const dirOf = (o: NamedListOptions & { directory?: string }) => o.directory ?? tmpdir();
  const fileOf = (name: string, o: FileNodeOptions & NamedListOptions) => {
    const bare = path.basename(name) === name ? name : path.basename(name);
    const withSuffix = suffix && !bare.endsWith(suffix) ? bare + suffix : bare;
    return path.join(dirOf(o), prefixedName(withSuffix, spec.noun, o.prefix));
  };
  // A lock file beside the node wins wherever one exists (a socket file made by a transport).
  const held = (file: string) => ownerLockHeld(spec.lockBeside || existsSync(file + LOCK_SUFFIX) ? file + LOCK_SUFFIX : file);
  const unmake = (file: string) => {
    try {
      if (spec.unmake) spec.unmake(file);
      else unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fromSystemError(err, `remove ${spec.noun}`, file);
    }
    rmSync(file + LOCK_SUFFIX, { force: true });
  };
  /** Names in the kind's directory that start with the prefix (none when the directory cannot be read). */
  const entries = (o: NamedListOptions & { directory?: string }): { dir: string; names: string[] } => {
    const prefix = validatePrefix(o.prefix ?? DEFAULT_PREFIX);
    const dir = dirOf(o);
    try {
      return { dir, names: readdirSync(dir).filter((n) => n.startsWith(prefix)) };
    } catch {
      return { dir, names: [] };
    }
  };
  const list = (o: NamedListOptions & { directory?: string } = {}) => {
    const { dir, names } = entries(o);
    return names.filter((n) => n.endsWith(suffix) && !n.endsWith(LOCK_SUFFIX) && spec.isNode(path.join(dir, n))).map((n) => path.join(dir, n));
  };
  const kind: NamedKind<NodeHandle, FileNodeOptions> = {
    kind: spec.kind,
    noun: spec.noun,
    create(name, o = {}) {
      const file = fileOf(name, o);
      const mode = o.mode ?? 0o600;
      let lock: OwnerLock | undefined;
      if (spec.lockBeside) {
        if (existsSync(file)) throw new ChannelError("EEXIST", `cannot create ${spec.noun} ${file}: it already exists`, { resource: file });
        lock = holdOwnerLock(file + LOCK_SUFFIX, { create: true, mode });
      }
      let made: { close(): void };
      try {
        made = spec.make(file, mode);
        lock ??= holdOwnerLock(file);
      } catch (err) {
        lock?.release(true);
        throw err;
      }
      return {
        name: file,
        path: file,
        close() {
          made.close();
          lock?.release();
        },
      };
    },
    open(name, o = {}) {
      const file = fileOf(name, o);
      return waitOpen(spec.noun, file, o, () => {
        if (spec.attach) {
          const a = spec.attach(file);
          return { name: file, path: file, close: () => a.close() };
        }
        if (!existsSync(file)) throw new ChannelError("ENOENT", `cannot open ${spec.noun} ${file}: it does not exist`, { resource: file });
        return { name: file, path: file, close() {} };
      });
    },
    openOrCreate(name, o = {}) {
      return openOrCreate(() => kind.create(name, o), () => kind.open(name, o));
    },
    exists: (name, o = {}) => existsSync(fileOf(name, o)),
    remove: (name, o = {}) => unmake(fileOf(name, o)),
    list,
    ownerAlive: (name, o = {}) => held(fileOf(name, o)) === true,
    // A lock file whose node is gone (its owner died between unlinking the node and dropping the lock) is offered too, under the node's name.
    removeStale: (o = {}) =>
      sweepStale(spec.kind, [...list(o), ...orphanLocks(o)], o, {
        pathOf: (file) => (existsSync(file) ? file : file + LOCK_SUFFIX),
        held,
        remove: unmake,
      }),
  };
  /** Nodes named by a `<node>.lock` beside which no node is left (kinds locked beside the node only). */
  const orphanLocks = (o: NamedListOptions & { directory?: string }): string[] => {
    if (!spec.lockBeside) return [];
    const { dir, names } = entries(o);
    return names
      .filter((n) => n.endsWith(suffix + LOCK_SUFFIX))
      .map((n) => path.join(dir, n.slice(0, -LOCK_SUFFIX.length)))
      .filter((file) => !existsSync(file));
  };
  return kind;
}

function isKind(file: string, test: (s: BigIntStats) => boolean): boolean {
  try {
    // BigInt stats: a plain stat of a FIFO or a socket breaks module resolution afterwards (see core's file-kind.ts).
    return test(lstatSync(file, { bigint: true }));
  } catch {
    return false;
  }
}

/** FIFOs (mkfifo(3)) and socket files in a directory; a FIFO is locked itself, a socket file through `<path>.lock`. */
export const fileNodes = fileNodeKind({
  kind: "fs-node",
  noun: "FIFO",
  isNode: (file) => isKind(file, (s) => s.isFIFO() || s.isSocket()),
  make: (file, mode) => {
    mkfifo(file, mode);
    return { close() {} };
  },
  lockBeside: false,
});

function isSocketFile(file: string): boolean {
  return isKind(file, (s) => s.isSocket());
}

/**
 * Socket files with a suffix (`.sock`, `.zmq`): a socket cannot be opened, so
 * its owner holds the lock on `<path>.lock` beside it. `make` binds one
 * exclusively where a transport can do that synchronously; otherwise create()
 * fails with EUNSUPPORTED and the transport's listen() makes the file.
 */
export function socketFileKind(kind: NamedKindId, noun: string, suffix: string, make?: FileNodeKindSpec["make"]): NamedKind<NodeHandle, FileNodeOptions> {
  return fileNodeKind({
    kind,
    noun,
    suffix,
    isNode: isSocketFile,
    make:
      make ??
      ((file) => {
        throw new ChannelError("EUNSUPPORTED", `cannot create ${noun} ${file} by itself: a transport's listen() binds it`, { resource: file });
      }),
    lockBeside: true,
  });
}

/** Journal directories (the mmap transport's), locked on the directory itself. */
export const journals = fileNodeKind({
  kind: "journal",
  noun: "journal directory",
  isNode: (file) => isKind(file, (s) => s.isDirectory()),
  make: (file, mode) => {
    try {
      // Search permission wherever read is granted: 0o600 becomes 0o700.
      mkdirSync(file, { mode: mode | ((mode & 0o444) >> 2) });
    } catch (err) {
      throw fromSystemError(err, "create journal directory", file);
    }
    return { close() {} };
  },
  unmake: (file) => rmSync(file, { recursive: true, force: true }),
  lockBeside: false,
});

/** Every kind posix supplies (the ZeroMQ ipc file is the zeromq package's, built with fileNodeKind). */
export const namedKinds = { segments, semaphores, queues, fileNodes, journals } as const;
