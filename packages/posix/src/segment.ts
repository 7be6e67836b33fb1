import { closeSync, constants, existsSync, fstatSync, ftruncateSync, openSync, readdirSync, unlinkSync, writeSync } from "node:fs";
import path from "node:path";
import { ChannelError, DEFAULT_PREFIX, fromSystemError, validateName, validatePrefix, type RemoveStaleOptions, type StaleEntry } from "@ipc-sampler/core";
import { LOCK_SUFFIX, lockOwner, lockPeerSlot, ownerHeldOn, ownerLockHeld, peerSlotHeld, unlockPeerSlot } from "./owner.js";
import { sweepStale } from "./sweep.js";
import { mmapAddon, native } from "./loader.js";

/** Where POSIX shared memory objects live on Linux: shm_open(3) creates files here. */
export const SHM_DIR = "/dev/shm";

/** The page size mappings are aligned to. */
export function pageSize(): number {
  return mmapAddon().PAGESIZE;
}

/**
 * A file mapped MAP_SHARED into this process: a /dev/shm object (shared
 * memory) or a regular file (a mapped file). Every process that maps the same
 * file sees the same bytes. The mapping lives as long as `buffer` is
 * reachable; `close()` drops this process's file descriptor.
 *
 * Any process that may write the file may also shrink it, and a touch past
 * the end of a file is SIGBUS. The mapping is guarded (native/guard.cc): such
 * a touch reads zeros instead, and `truncated()` turns true. Check it where
 * you wake and between batches, and end with `truncatedError()`.
 */
export interface MappedSegment {
  /** The segment's name: its file name in its directory. */
  readonly name: string;
  /** Full path of the backing file. */
  readonly path: string;
  readonly size: number;
  /** The mapped bytes (a Buffer over the mapping; its ArrayBuffer can back Int32Array for Atomics). */
  readonly buffer: Buffer;
  /** msync(2): flush the mapping (or a range) to the file; `blocking` waits (MS_SYNC) instead of MS_ASYNC. */
  sync(offset?: number, length?: number, blocking?: boolean): void;
  /**
   * The file shrank under the mapping and this process touched the lost
   * part: the mapping now holds private zero pages, no longer shared with
   * anyone. Permanent.
   */
  truncated(): boolean;
  /** Closes the descriptor; the mapping stays valid until `buffer` is collected. */
  close(): void;
  /** Removes the backing file (other processes' mappings stay valid). */
  unlink(): void;
  /**
   * Whether another process owns the segment (holds the lock its creator
   * takes; see owner.ts): false once the creator closed it or died, in any
   * pid namespace. False after close().
   */
  ownerAlive(): boolean;
  /**
   * Takes peer slot `slot`'s lock (see owner.ts) on this descriptor without
   * waiting: false when a live peer holds it. The kernel drops it when this
   * process dies; `unlockSlot` drops it on a clean close (the mapping would
   * keep it past `close()`).
   */
  lockSlot(slot: number): boolean;
  unlockSlot(slot: number): void;
  /** Whether another process holds peer slot `slot`'s lock: its peer lives, in any pid namespace. False after close(). */
  slotHeld(slot: number): boolean;
}

export interface SegmentOptions {
  /** Directory of the backing file (default /dev/shm). */
  directory?: string;
  /** File mode when creating (default 0o600). */
  mode?: number;
  /** MAP_POPULATE — mmap(2): fault every page in at map time (one call instead of a fault per page on first touch). */
  populate?: boolean;
  /**
   * Allocate the file's blocks at creation by writing zeros (default true),
   * so a full file system is a typed error (ELIMIT, from ENOSPC) now instead
   * of a fault on the first store into an unbacked page later (which the
   * guard would report as a truncation).
   */
  preallocate?: boolean;
}

const ZEROS = Buffer.alloc(1 << 20);

function resolvePath(name: string, options: SegmentOptions): string {
  const dir = options.directory ?? SHM_DIR;
  const bare = name.startsWith("/") && !options.directory ? name.slice(1) : name;
  return path.join(dir, validateName(bare, "segment"));
}

let counts: Int32Array | undefined;

/** The guard's counts: [0] mappings of this process found truncated so far, [1 + slot] one mapping's. */
function guardCounts(): Int32Array {
  return (counts ??= native().guardCounts());
}

/**
 * How many mappings of this process were found truncated so far: a one-load
 * test a loop can afford on every turn before asking its segments which.
 */
export function truncations(): number {
  return guardCounts()[0]!;
}

/** Guard slot of each mapping's ArrayBuffer, for viewTruncated(). */
const slotOf = new WeakMap<ArrayBufferLike, number>();

/**
 * Whether the mapping under `view` (any view of a MappedSegment's buffer)
 * was found truncated: for code that holds views, not the segment. One load
 * while nothing in this process was.
 */
export function viewTruncated(view: ArrayBufferView): boolean {
  const c = guardCounts();
  if (c[0] === 0) return false;
  const slot = slotOf.get(view.buffer);
  return slot !== undefined && c[1 + slot] !== 0;
}

/** The error that ends a channel (or a shared object) whose segment a peer truncated. */
export function truncatedError(resource: string): ChannelError {
  return new ChannelError("EPROTO", `${resource} was truncated by a peer (its pages here now read as zeros, shared with no one): it cannot be used any more`, { resource });
}

function mapFd(fd: number, p: string, size: number, populate = false): MappedSegment {
  const m = mmapAddon();
  let buffer: Buffer;
  let slot: number;
  try {
    ({ buffer, slot } = native().mapShared(fd, size, populate));
  } catch (err) {
    closeSync(fd);
    throw fromSystemError(err, "map segment", p);
  }
  const c = guardCounts();
  slotOf.set(buffer.buffer, slot);
  let open = true;
  return {
    name: path.basename(p),
    path: p,
    size,
    buffer,
    sync(offset = 0, length = size, blocking = true) {
      m.sync(buffer, offset, length, blocking, false);
    },
    truncated() {
      return c[1 + slot] !== 0;
    },
    close() {
      if (open) {
        open = false;
        closeSync(fd);
      }
    },
    ownerAlive() {
      return open && ownerHeldOn(fd);
    },
    lockSlot(slot) {
      if (!open) throw new ChannelError("ECLOSED", `cannot lock a slot of segment ${p}: it is closed`, { resource: p });
      return lockPeerSlot(fd, slot);
    },
    unlockSlot(slot) {
      if (open) unlockPeerSlot(fd, slot);
    },
    slotHeld(slot) {
      return open && peerSlotHeld(fd, slot);
    },
    unlink() {
      try {
        unlinkSync(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fromSystemError(err, "remove segment", p);
      }
    },
  };
}

/** Creates a new segment of `size` bytes (exclusive: EEXIST if it exists), zero-filled, and maps it. */
export function createSegment(name: string, size: number, options: SegmentOptions = {}): MappedSegment {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError(`segment size must be a positive integer; got ${size}`);
  const p = resolvePath(name, options);
  let fd: number;
  try {
    fd = openSync(p, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, options.mode ?? 0o600);
  } catch (err) {
    throw fromSystemError(err, "create segment", p);
  }
  try {
    // The creator owns the segment while this descriptor is open (see owner.ts).
    lockOwner(fd, p);
    ftruncateSync(fd, size);
    if (options.preallocate ?? true) {
      for (let at = 0; at < size; ) at += writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, size - at), at);
    }
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(p);
    } catch {
      // best effort
    }
    throw fromSystemError(err, "size segment", p);
  }
  return mapFd(fd, p, size, options.populate);
}

/** Opens and maps an existing segment at its current size (or `size` bytes of it). */
export function openSegment(name: string, size?: number, options: SegmentOptions = {}): MappedSegment {
  const p = resolvePath(name, options);
  let fd: number;
  try {
    fd = openSync(p, constants.O_RDWR);
  } catch (err) {
    throw fromSystemError(err, "open segment", p);
  }
  const actual = fstatSync(fd).size;
  const want = size ?? actual;
  if (want > actual || want <= 0) {
    closeSync(fd);
    const why = actual === 0 ? "it is empty (its creator has not sized it yet, or died first)" : `it is ${actual} bytes, ${want} were expected`;
    throw new ChannelError("EPROTO", `cannot open segment ${p}: ${why}`, { resource: p });
  }
  return mapFd(fd, p, want, options.populate);
}

export function segmentExists(name: string, options: SegmentOptions = {}): boolean {
  return existsSync(resolvePath(name, options));
}

export function removeSegment(name: string, options: SegmentOptions = {}): void {
  const p = resolvePath(name, options);
  try {
    unlinkSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fromSystemError(err, "remove segment", p);
  }
}

/** Segment names (not paths) with this prefix in `directory` (default /dev/shm); glibc's semaphore files (`sem.*`) are not segments. */
export function listSegments(prefix = DEFAULT_PREFIX, directory = SHM_DIR): string[] {
  validatePrefix(prefix);
  try {
    return readdirSync(directory).filter((n) => n.startsWith(prefix) && !n.startsWith("sem.") && !n.endsWith(LOCK_SUFFIX));
  } catch {
    return [];
  }
}

/** Removes segments with this prefix that no live process owns (see owner.ts); returns what it decided for each. */
export function sweepSegments(options: RemoveStaleOptions = {}, directory = SHM_DIR): StaleEntry[] {
  return sweepStale("segment", listSegments(options.prefix ?? DEFAULT_PREFIX, directory), options, {
    pathOf: (n) => path.join(directory, n),
    held: (n) => ownerLockHeld(path.join(directory, n)),
    remove: (n) => removeSegment(n, { directory }),
  });
}

/** Removes segments with this prefix that no live process owns; returns their names. */
export function removeStaleSegments(prefix = DEFAULT_PREFIX, directory = SHM_DIR): string[] {
  return sweepSegments({ prefix }, directory).filter((e) => e.outcome === "removed").map((e) => e.name);
}

/**
 * A producer's claim on one of `slots` slots of a mapped table: the first
 * slot whose peer lock (see owner.ts) this descriptor takes and that
 * `claim(i)` then takes (a compare-and-swap in the mapping). Returns its
 * index, with the lock held, or -1 when none is free. Lock first, then
 * claim: a claimed slot whose lock is free has a dead (or closed) producer.
 */
export function claimSlot(slots: number, segment: MappedSegment, claim: (slot: number) => boolean): number {
  for (let s = 0; s < slots; s++) {
    if (!segment.lockSlot(s)) continue;
    if (claim(s)) return s;
    segment.unlockSlot(s);
  }
  return -1;
}
