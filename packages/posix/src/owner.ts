import { closeSync, constants, openSync, statSync, unlinkSync } from "node:fs";
import { ChannelError, fromSystemError } from "@ipc-sampler/core";
import { native } from "./loader.js";

/**
 * Ownership of a named resource: the creator holds an open-file-description
 * read lock (fcntl F_OFD_SETLK) on the resource itself, or on a lock file
 * beside it where the resource cannot be opened (a socket file). The kernel
 * drops the lock when the creator's last descriptor closes, so when it dies;
 * the lock is a property of the file, the same from every pid namespace.
 * Descriptors are opened O_CLOEXEC (libuv's default), so a child that execs
 * does not keep a dead owner alive.
 */

/**
 * The owner locks byte 0 only (locks may lie past the end of a file): other
 * bytes stay free for per-peer locks (a producer's slot, say) that a probe of
 * the owner must not mistake for it.
 */
export const OWNER_BYTE = 0;

/** The lock file beside a resource that cannot be opened itself. */
export const LOCK_SUFFIX = ".lock";

/** Takes the owner lock on an open descriptor (read lock on OWNER_BYTE). EEXIST when another process holds one already. */
export function lockOwner(fd: number, resource: string): void {
  let taken: boolean;
  try {
    taken = native().ofdLock(fd, 1, OWNER_BYTE, 1);
  } catch (err) {
    throw fromSystemError(err, "lock", resource);
  }
  // Two read locks do not conflict: ask whether someone else held one first.
  if (!taken || native().ofdHeld(fd, OWNER_BYTE, 1)) {
    throw new ChannelError("EEXIST", `cannot own ${resource}: a live process owns it already`, { resource, syscall: "fcntl" });
  }
}

/** An owner lock this process holds on a file of its own (a lock file, or a node opened for the purpose). */
export interface OwnerLock {
  readonly path: string;
  /** The descriptor holding the lock (on which to ask about peer slots of the same file); closed by release(). */
  readonly fd: number;
  /** Drops the lock (closes its descriptor); with `unlink`, removes the lock file too. Idempotent. */
  release(unlink?: boolean): void;
}

/**
 * Opens `path` (creating it as a lock file with `mode` when `create`) and
 * takes the owner lock on it. FIFOs open without waiting for a writer.
 */
export function holdOwnerLock(path: string, options: { create?: boolean; mode?: number } = {}): OwnerLock {
  let fd: number;
  try {
    const flags = options.create ? constants.O_RDWR | constants.O_CREAT : constants.O_RDONLY | constants.O_NONBLOCK;
    fd = openSync(path, flags, options.mode ?? 0o600);
  } catch (err) {
    throw fromSystemError(err, "open for locking", path);
  }
  try {
    lockOwner(fd, path);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let held = true;
  return {
    path,
    fd,
    release(unlink = false) {
      if (!held) return;
      held = false;
      if (unlink) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
      closeSync(fd);
    },
  };
}

/**
 * Whether a live process holds the owner lock of `path`: true or false, or
 * undefined when the file cannot be opened to ask (gone, a socket, or no
 * permission).
 */
export function ownerLockHeld(path: string): boolean | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return native().ofdHeld(fd, OWNER_BYTE, 1);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Whether a descriptor's file has an owner lock held by another open file description. */
export function ownerHeldOn(fd: number): boolean {
  return native().ofdHeld(fd, OWNER_BYTE, 1);
}

/** Milliseconds since the file's status last changed (creation, for what is never rewritten); Infinity when it is gone. */
export function ageMs(path: string): number {
  try {
    // BigInt stats: the path may be a FIFO or a socket, whose plain stat breaks module resolution afterwards (see core's file-kind.ts).
    return Date.now() - Number(statSync(path, { bigint: true }).ctimeMs);
  } catch {
    return Infinity;
  }
}

/**
 * Peers (producers) of a resource hold their own locks, one byte each past
 * OWNER_BYTE: peer slot `i` is byte PEER_BYTE_BASE + i, write-locked (so
 * exclusive) on the peer's own descriptor, which must be open for writing.
 * The kernel drops it when the peer dies, in any pid namespace, and a new
 * peer can take the slot only then: a slot's lock, not a pid, says whether
 * its peer lives.
 */
export const PEER_BYTE_BASE = OWNER_BYTE + 1;

function checkSlot(slot: number, slots: number): void {
  if (!Number.isInteger(slot) || slot < 0 || slot >= slots) throw new RangeError(`peer slot must be an integer from 0 to ${slots - 1}; got ${slot}`);
}

/** The largest number of peer slots a resource may have. */
export const MAX_PEER_SLOTS = 1 << 20;

/** Takes peer slot `slot`'s lock on `fd` without waiting: false when a live peer holds it. */
export function lockPeerSlot(fd: number, slot: number): boolean {
  checkSlot(slot, MAX_PEER_SLOTS);
  return native().ofdLock(fd, 2, PEER_BYTE_BASE + slot, 1);
}

/** Drops peer slot `slot`'s lock taken on `fd` (a clean close: a mapping may keep the descriptor's file open long after). */
export function unlockPeerSlot(fd: number, slot: number): void {
  checkSlot(slot, MAX_PEER_SLOTS);
  try {
    native().ofdLock(fd, 0, PEER_BYTE_BASE + slot, 1);
  } catch {
    // the descriptor is gone: so is its lock
  }
}

/** Whether another open file description holds peer slot `slot`'s lock (asked on the receiver's own descriptor). */
export function peerSlotHeld(fd: number, slot: number): boolean {
  checkSlot(slot, MAX_PEER_SLOTS);
  return native().ofdHeld(fd, PEER_BYTE_BASE + slot, 1);
}

/** Takes the lock of the first free slot of `slots` on `fd`: its index, or -1 when every slot is held. */
export function claimPeerSlot(fd: number, slots: number): number {
  if (!Number.isInteger(slots) || slots < 1 || slots > MAX_PEER_SLOTS) throw new RangeError(`slots must be an integer from 1 to ${MAX_PEER_SLOTS}; got ${slots}`);
  for (let i = 0; i < slots; i++) if (native().ofdLock(fd, 2, PEER_BYTE_BASE + i, 1)) return i;
  return -1;
}

/** How often a PeerSlotWatcher asks whether each watched slot's lock is still held (ms). */
export const PEER_POLL_MS = 250;

/** A watch from PeerSlotWatcher.watch(). */
export interface PeerSlotWatch {
  close(): void;
}

interface SlotWatch {
  slot: number;
  onGone: () => void;
  done: boolean;
}

/**
 * Calls back when a peer's slot lock is dropped, for a receiver whose wait
 * is on something else (a FIFO or queue descriptor turning readable): one
 * unref'd timer per receiver asks, every PEER_POLL_MS while at least one
 * slot is watched, with one F_OFD_GETLK per watched slot on `fd`. (A thread
 * blocked in F_OFD_SETLKW would wake at once, but waits on one range: it
 * would take a thread per producer.) Idle, with nothing watched, it costs
 * nothing.
 */
export class PeerSlotWatcher {
  private readonly watches: SlotWatch[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly fd: number,
    private readonly periodMs = PEER_POLL_MS,
  ) {}

  /** Calls `onGone` once, within a period, after no process holds slot `slot`'s lock (checked: 0 to MAX_PEER_SLOTS - 1). */
  watch(slot: number, onGone: () => void): PeerSlotWatch {
    checkSlot(slot, MAX_PEER_SLOTS);
    const w: SlotWatch = { slot, onGone, done: false };
    this.watches.push(w);
    this.timer ??= setInterval(() => this.tick(), this.periodMs).unref();
    return {
      close: () => {
        if (w.done) return;
        w.done = true;
        this.forget(w);
      },
    };
  }

  /** Stops every watch (the descriptor is about to close). */
  close(): void {
    for (const w of this.watches) w.done = true;
    this.watches.length = 0;
    this.stop();
  }

  private tick(): void {
    for (const w of [...this.watches]) {
      if (w.done) continue;
      let held: boolean;
      try {
        held = peerSlotHeld(this.fd, w.slot);
      } catch {
        held = false; // the descriptor is gone: nothing can be watched through it
      }
      if (held) continue;
      w.done = true;
      this.forget(w);
      w.onGone();
    }
  }

  private forget(w: SlotWatch): void {
    const i = this.watches.indexOf(w);
    if (i >= 0) this.watches.splice(i, 1);
    if (this.watches.length === 0) this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A peer slot this process holds on a lock file (see holdPeerSlot). */
export interface PeerSlotLock {
  readonly slot: number;
  /** Drops the lock (closes its descriptor). Idempotent. */
  release(): void;
}

/**
 * Opens `path` (an existing lock file, such as the owner's `<file>.lock`
 * beside a socket file) read-write and takes the first free of `slots` peer
 * slots on it. Undefined when the file cannot be opened; ELIMIT when every
 * slot is held.
 */
export function holdPeerSlot(path: string, slots: number): PeerSlotLock | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR);
  } catch {
    return undefined;
  }
  let slot: number;
  try {
    slot = claimPeerSlot(fd, slots);
  } catch (err) {
    closeSync(fd);
    throw fromSystemError(err, "lock a peer slot of", path);
  }
  if (slot < 0) {
    closeSync(fd);
    throw new ChannelError("ELIMIT", `cannot attach to ${path}: all ${slots} peer slots are held`, { resource: path });
  }
  let held = true;
  return {
    slot,
    release() {
      if (!held) return;
      held = false;
      closeSync(fd);
    },
  };
}
