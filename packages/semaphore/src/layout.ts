/**
 * The classic bounded buffer over POSIX named semaphores: K slots in a
 * shared segment, an `empty` semaphore (free slots), a `full` semaphore
 * (filled slots) and a `mutex` semaphore around the producers' insert.
 *
 * Segment layout (little-endian 32-bit words):
 *
 *   header, 4096 bytes
 *     0 magic   1 version   2 slots (K, a power of two)   3 slot size
 *     4 receiver pid   5 state (0 open, 1 closed)
 *     6 in:  slots committed so far (wraps at 2^32)
 *     7 out: slots the receiver has consumed
 *     8 mutex owner: table index + 1 of the producer holding `mutex`, 0 if none
 *     9 producer table capacity   10 maxMessageSize
 *    64 producer table: 4 words per producer
 *         [pid (0 = free; the producer's own, for messages only), state,
 *          holds-empty flag, reserved]
 *   K slots of `slotSize` bytes
 *     [table index, used bytes, flags (1 = goodbye), pid] then frames:
 *     a u32 length and the bytes, as core framing.
 *
 * A producer coalesces its messages into a local chunk of one slot's size;
 * one slot carries one chunk. Committing a slot takes one `empty` unit and
 * the mutex, copies the chunk, advances `in`, posts `full`, releases the
 * mutex: per slot, not per message. Uncontended, every semaphore operation
 * is a user-space atomic; a wait that must block runs on the handle's waiter
 * thread with a bounded timeout, after which the waiter checks the other
 * side is still alive.
 *
 * Crash recovery. The addon records holders in the header as part of the
 * semaphore call itself (a "mark"): the producer's holds-empty flag right
 * after it takes an `empty` unit, the mutex owner's table index + 1 right
 * after it takes the mutex (cleared right before it posts it). Liveness is a
 * lock, not a pid: a producer write-locks byte 1 + its table index of the
 * segment (an OFD lock, see @ipc-sampler/posix owner.ts) before it claims
 * the entry, and the kernel drops it when the producer dies, in whatever pid
 * namespace. When a wait times out the receiver asks, for every registered
 * producer, whether its lock is still held; for a dead one it first drains
 * every slot that producer committed (committed slots are whole, so nothing
 * torn is ever delivered), then returns the `empty` unit it held, releases
 * the mutex if that entry owned it, frees its table entry and reports the
 * producer lost (EPEERGONE). Producers check the receiver's owner lock on
 * byte 0 and the header state whenever their own wait times out.
 * `full` is only a wake-up: the receiver reads up to `in`, so a post lost or
 * doubled by a crash costs at most one spurious wake-up.
 */
import { FRAME_HEADER_BYTES } from "@ipc-sampler/core";
import { removeSegment, semUnlink, type MappedSegment } from "@ipc-sampler/posix";
import type { SemaphoreListenOptions } from "./index.js";

export const MAGIC = 0x49505342; // "IPSB"
export const VERSION = 2;
export const HEADER_BYTES = 4096;
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_SLOTS = 2;
export const H_SLOT_SIZE = 3;
export const H_RECEIVER = 4;
export const H_STATE = 5;
export const H_IN = 6;
export const H_OUT = 7;
export const H_MUTEX_OWNER = 8;
export const H_TABLE_CAP = 9;
export const H_MAX_MESSAGE = 10;
export const TABLE_WORD = 64;
export const MAX_PRODUCERS = 64;
export const E_PID = 0;
export const E_STATE = 1;
export const E_HOLDS_EMPTY = 2;
export const SLOT_HEADER_BYTES = 16;
export const FLAG_GOODBYE = 1;
export const STATE_CLOSED = 1;

/** Bounded waits: how often each side looks at whether the other is alive. */
export const CHECK_MS = 250;

/** Default slot: 64 KiB, so ~960 64-byte messages per semaphore round. */
export const SEMAPHORE_SLOT_SIZE = 64 * 1024;
/** Default largest message: one slot minus its header and one frame header. */
export const SEMAPHORE_MAX_MESSAGE = SEMAPHORE_SLOT_SIZE - SLOT_HEADER_BYTES - FRAME_HEADER_BYTES;
/** Largest slot accepted (so the largest message is just under 64 MiB). */
export const MAX_SLOT_SIZE = 64 * 1024 * 1024;

export interface Names {
  segment: string;
  empty: string;
  full: string;
  mutex: string;
}

/** Channel names are `<prefix>semch-<pid>-…`: list and removeStale see channels, not user semaphores or other segments. */
export const CHANNEL_TAG = "semch";

export function namesOf(name: string): Names {
  return { segment: name, empty: `/${name}.empty`, full: `/${name}.full`, mutex: `/${name}.mutex` };
}

export function removeAll(n: Names): void {
  for (const s of [n.empty, n.full, n.mutex]) {
    try {
      semUnlink(s);
    } catch {
      // already gone
    }
  }
  try {
    removeSegment(n.segment);
  } catch {
    // already gone
  }
}

export function words(seg: MappedSegment): Int32Array {
  return new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.size >>> 2);
}

export function sizing(options: SemaphoreListenOptions): { slots: number; slotSize: number; maxMessageSize: number } {
  let slotSize = options.slotSize;
  const wanted = options.maxMessageSize;
  if (wanted !== undefined && (!Number.isInteger(wanted) || wanted < 0)) {
    throw new RangeError(`maxMessageSize must be a non-negative integer; got ${wanted}`);
  }
  if (slotSize === undefined) {
    slotSize = wanted === undefined ? SEMAPHORE_SLOT_SIZE : Math.max(4096, Math.ceil((wanted + SLOT_HEADER_BYTES + FRAME_HEADER_BYTES) / 64) * 64);
  }
  if (!Number.isInteger(slotSize) || slotSize % 64 !== 0 || slotSize < 64 || slotSize > MAX_SLOT_SIZE) {
    throw new RangeError(`slotSize must be a multiple of 64 from 64 to ${MAX_SLOT_SIZE}; got ${slotSize}`);
  }
  const ceiling = slotSize - SLOT_HEADER_BYTES - FRAME_HEADER_BYTES;
  const maxMessageSize = wanted ?? ceiling;
  if (maxMessageSize > ceiling) {
    throw new RangeError(`maxMessageSize ${maxMessageSize} does not fit a ${slotSize}-byte slot (at most ${ceiling}); raise slotSize or leave it unset`);
  }
  let slots = options.slots;
  if (slots === undefined) {
    slots = 2;
    while (slots < 32 && slots * 2 * slotSize <= 4 * 1024 * 1024) slots *= 2;
  }
  if (!Number.isInteger(slots) || slots < 2 || slots > 1024 || (slots & (slots - 1)) !== 0) {
    throw new RangeError(`slots must be a power of two from 2 to 1024; got ${slots}`);
  }
  return { slots, slotSize, maxMessageSize };
}
