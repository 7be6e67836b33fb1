/**
 * The packet format on a shared FIFO. Every write(2) is one packet of at most
 * PIPE_BUF bytes, which the kernel never interleaves with another writer's,
 * so any number of producers can share the FIFO:
 *
 *   0  u32  producer pid
 *   4  u16  stream: the sender's number within its process
 *   6  u16  kind (top 4 bits) | body length (low 12 bits)
 *   8  …    body
 *
 * Kinds: HELLO (empty body: a producer attaches), FRAMES (whole messages,
 * each a u32 length then the bytes), FRAGMENT_FIRST (u32 total length, then
 * the first bytes of a message too large for one packet), FRAGMENT_MORE (the
 * next bytes), GOODBYE (the producer closed cleanly). All little-endian.
 */
export const PACKET_BYTES = 4096;
export const HEADER_BYTES = 8;
export const BODY_MAX = PACKET_BYTES - HEADER_BYTES;
export const FRAME_BYTES = 4;

export const HELLO = 1;
export const FRAMES = 2;
export const FRAGMENT_FIRST = 3;
export const FRAGMENT_MORE = 4;
export const GOODBYE = 5;

export function writeHeader(buf: Uint8Array, at: number, pid: number, stream: number, kind: number, bodyLength: number): void {
  buf[at] = pid & 0xff;
  buf[at + 1] = (pid >>> 8) & 0xff;
  buf[at + 2] = (pid >>> 16) & 0xff;
  buf[at + 3] = (pid >>> 24) & 0xff;
  buf[at + 4] = stream & 0xff;
  buf[at + 5] = (stream >>> 8) & 0xff;
  const w = (kind << 12) | bodyLength;
  buf[at + 6] = w & 0xff;
  buf[at + 7] = w >>> 8;
}

export function readU32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

export function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value & 0xff;
  buf[at + 1] = (value >>> 8) & 0xff;
  buf[at + 2] = (value >>> 16) & 0xff;
  buf[at + 3] = (value >>> 24) & 0xff;
}
