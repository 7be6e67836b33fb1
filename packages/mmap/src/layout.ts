import { crc32 } from "node:zlib";
import { checksum32 } from "@ipc-sampler/core";

/**
 * On-disk layout of a journal directory:
 *
 *   journal.ctl        control file, mapped by everyone: owner pid, closed
 *                      flag, next stream id, the consumer's sleeping flag and
 *                      doorbell futex word (own cache lines), producer slots
 *   s<stream>-<n>.jnl  segment n of one producer's stream, SEGMENT_HEADER
 *                      bytes of header, then records
 *   s<stream>-<n>.free segment n after the consumer retired it (retention):
 *                      its producer renames it to its next segment and
 *                      writes over it (not part of the journal)
 *
 * Liveness is not in the layout: the receiver holds an OFD lock on byte 0
 * of journal.ctl, and the producer of slot s one on byte 1 + s, taken before
 * it claims the slot; the kernel drops a lock when its holder dies. The pids
 * in the control file are the writers' own, for messages only.
 *
 * Each producer appends to its own stream (no shared tail, no lock). A
 * record is 8-byte aligned:
 *
 *   0  i32  commit marker: commitFor(segment index) once the record is
 *           complete (stored last)
 *   4  i32  payload length
 *   8  u32  sequence (low 32 bits)     12  u32  sequence (high bits)
 *  16  u32  checksum of the payload    20  i32  kind | checksum algorithm
 *  24  …    payload, padded to 8 bytes
 *
 * A record whose marker is not commitFor(its segment's index) was not
 * finished (its producer died mid-write) or is stale: files are created
 * zero-filled, and a recycled file only ever moves to a higher index of the
 * same stream, so what its earlier generation committed carries another
 * index's marker. Such a record is never delivered, and nothing after it in
 * that stream exists.
 */
export const CTL_FILE = "journal.ctl";
export const CTL_MAGIC = 0x314c544a; // "JTL1"
export const SEG_MAGIC = 0x3247534a; // "JSG2"
export const VERSION = 3;

export const C_MAGIC = 0;
export const C_VERSION = 1;
export const C_OWNER_PID = 2;
export const C_CLOSED = 3;
export const C_SEGMENT_BYTES = 4;
export const C_MAX_MESSAGE = 5;
export const C_NEXT_STREAM = 6;
export const C_SLOTS = 7;
export const C_SLEEPING = 16;
export const C_DOORBELL = 32;
export const CTL_HEADER_BYTES = 4096;
const SLOT_WORDS = 16;
export const SL_STATE = 0;
export const SL_PID = 1;
export const SL_STREAM = 2;
/** With retention: how many of this slot's stream's segments the consumer has retired (it writes, and wakes a producer waiting on it). */
export const SL_RETIRED = 3;
export function ctlBytes(slots: number): number {
  return CTL_HEADER_BYTES + slots * SLOT_WORDS * 4;
}
export function slotWord(slot: number, field: number): number {
  return CTL_HEADER_BYTES / 4 + slot * SLOT_WORDS + field;
}
export const FREE = 0;
export const CLAIMED = 1;
export const ACTIVE = 2;
export const CLOSED = 3;

export const SEGMENT_HEADER = 64;
export const G_MAGIC = 0;
export const G_STREAM = 1;
export const G_INDEX = 2;
export const G_BYTES = 3;
/** Sequence number of the segment's first record (low, high). */
export const G_SEQ_LO = 4;
export const G_SEQ_HI = 5;
/** How many times the file was recycled (0: created for this index). */
export const G_REUSED = 6;

export const RECORD_HEADER = 24;
export const COMMIT = 0x544d4f43; // "COMT"
/**
 * The commit marker of records in segment `index`: distinct for indices
 * less than 2^30 apart and never 0 (bit 30 of COMMIT is set and stays set).
 */
export function commitFor(index: number): number {
  return (COMMIT ^ (index & 0x3fffffff)) | 0;
}
export const R_MARKER = 0;
export const R_LENGTH = 1;
export const R_SEQ_LO = 2;
export const R_SEQ_HI = 3;
export const R_CHECKSUM = 4;
export const R_KIND = 5;

export const KIND_DATA = 1;
/** Nothing more in this segment: continue in the next one. */
export const KIND_NEXT = 2;
/** The producer closed its stream. */
export const KIND_BYE = 3;
/** Checksum algorithm bits in R_KIND. */
export const SUM_NONE = 0 << 8;
export const SUM_MIX32 = 1 << 8;
export const SUM_CRC32 = 2 << 8;
/**
 * Records are summed with checksum32 (SUM_MIX32, WebAssembly SIMD on long
 * payloads: several times zlib's crc32 in Node 20); SUM_CRC32 records, which
 * journals written before used from 1 KiB up, are still read and checked.
 */

export function recordBytes(length: number): number {
  return RECORD_HEADER + ((length + 7) & ~7);
}

export function segmentFile(stream: number, index: number): string {
  return `s${stream}-${index}.jnl`;
}

export function freeFile(stream: number, index: number): string {
  return `s${stream}-${index}.free`;
}

/** Retired files a stream may have waiting for its producer before the oldest is removed. */
export const POOL_FILES = 4;

export function parseSegmentFile(name: string): { stream: number; index: number } | undefined {
  const m = /^s(\d+)-(\d+)\.jnl$/.exec(name);
  return m ? { stream: Number(m[1]), index: Number(m[2]) } : undefined;
}

/** The largest payload a segment of `segmentBytes` carries. */
export function maxMessageFor(segmentBytes: number): number {
  return segmentBytes - SEGMENT_HEADER - 2 * RECORD_HEADER - 8;
}

/** The smallest segment (a multiple of 4096) that carries a `maxMessage`-byte payload. */
export function segmentFor(maxMessage: number): number {
  return Math.ceil((maxMessage + SEGMENT_HEADER + 2 * RECORD_HEADER + 8) / 4096) * 4096;
}

export function sumOf(bytes: Uint8Array, offset: number, length: number, algo: number): number {
  if (algo === SUM_CRC32) return crc32(bytes.subarray(offset, offset + length)) | 0;
  if (algo === SUM_MIX32) return checksum32(bytes, offset, length) | 0;
  return 0;
}
