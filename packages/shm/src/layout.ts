/**
 * The segment layout, in 32-bit words (Int32Array indices) unless a name
 * ends in BYTES. One segment holds a header page, a table of producer slots
 * and one single-producer/single-consumer ring per slot:
 *
 *   page 0    header: magic, geometry, owner pid, closed flag; the consumer's
 *             "sleeping" flag and the doorbell futex word, each on its own
 *             cache line
 *   slots     SLOT_BYTES per slot: state, pid; tail (written by the producer),
 *             head (written by the consumer), the producer's "sleeping" flag
 *             and its space futex word, each group on its own cache line
 *   rings     ringBytes per slot, page aligned
 *
 * Liveness is not in the layout: the receiver holds an OFD lock on byte 0
 * of the segment file, and the producer of slot s one on byte 1 + s, taken
 * before it claims the slot (see @ipc-sampler/posix owner.ts); the kernel
 * drops a lock when its holder dies. The pids in the header and the slots
 * are the writers' own (another pid namespace's, perhaps), for messages only.
 *
 * Head and tail are byte counters modulo 2^32; the ring size is a power of
 * two, so `counter & (ringBytes - 1)` is the position. A frame is an int32
 * length, an int32 of padding, then the payload, padded to 8 bytes. A length
 * of -1 (WRAP) means "the rest of the ring is unused: continue at 0", so
 * every message is contiguous and can be handed out as a view.
 */
export const MAGIC = 0x31534d48; // "HMS1"
export const VERSION = 1;

export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_RING_BYTES = 2;
export const H_SLOTS = 3;
export const H_MAX_MESSAGE = 4;
export const H_OWNER_PID = 5;
export const H_CLOSED = 6;
export const H_RINGS_OFFSET = 7;
/** The consumer sets it before sleeping on the doorbell; producers wake it only then. */
export const H_SLEEPING = 16; // byte 64
/** Futex word: producers bump it and FUTEX_WAKE when the consumer sleeps. */
export const H_DOORBELL = 32; // byte 128

export const HEADER_BYTES = 4096;
export const SLOT_BYTES = 256;
const SLOT_WORDS = SLOT_BYTES / 4;

export const S_STATE = 0;
export const S_PID = 1;
export const S_TAIL = 16; // byte 64: producer's line
export const S_HEAD = 32; // byte 128: consumer's line
export const S_SLEEPING = 48; // byte 192: producer waiting for space
export const S_SPACE = 49; // futex word the consumer bumps when it frees space

export const FREE = 0;
export const CLAIMED = 1;
export const ACTIVE = 2;
export const CLOSED = 3;

export const FRAME_HEADER = 8;
export const WRAP = -1;

export function slotWord(slot: number, field: number): number {
  return HEADER_BYTES / 4 + slot * SLOT_WORDS + field;
}

export function ringsOffset(slots: number): number {
  return Math.ceil((HEADER_BYTES + slots * SLOT_BYTES) / 4096) * 4096;
}

export function segmentBytes(slots: number, ringBytes: number): number {
  return ringsOffset(slots) + slots * ringBytes;
}

/** Bytes a message of `length` takes in the ring, header included. */
export function frameBytes(length: number): number {
  return FRAME_HEADER + ((length + 7) & ~7);
}

/** The largest message a ring of `ringBytes` always fits: half of it, less a frame header. */
export function maxMessageFor(ringBytes: number): number {
  return ringBytes / 2 - FRAME_HEADER;
}

/** A power of two ≥ n. */
export function nextPow2(n: number): number {
  let p = 4096;
  while (p < n) p *= 2;
  return p;
}
