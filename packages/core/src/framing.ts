/**
 * Length-prefixed framing for byte-stream mechanisms (pipe, FIFO, sockets):
 * each message is a 32-bit little-endian length, then the bytes. One length
 * value is reserved: GOODBYE marks a producer's orderly close, so a stream
 * that ends without it tells the receiver the producer died.
 */
export const FRAME_HEADER_BYTES = 4;
export const GOODBYE = 0xffffffff;
/** Largest length a frame header can state (GOODBYE excluded). */
export const MAX_FRAME_LENGTH = 0xfffffffe;

export function writeFrameHeader(target: Uint8Array, offset: number, length: number): void {
  target[offset] = length & 0xff;
  target[offset + 1] = (length >>> 8) & 0xff;
  target[offset + 2] = (length >>> 16) & 0xff;
  target[offset + 3] = (length >>> 24) & 0xff;
}

export function readFrameHeader(source: Uint8Array, offset: number): number {
  return (source[offset]! | (source[offset + 1]! << 8) | (source[offset + 2]! << 16) | (source[offset + 3]! << 24)) >>> 0;
}

/** Result of parsing one chunk: where complete frames are, and what is left over. */
export interface ParsedFrames {
  /** Number of complete frames found. */
  count: number;
  /** Offset of the first byte not consumed (start of a partial frame, or the end). */
  consumed: number;
  /** A GOODBYE header was read at `consumed - 4`. */
  goodbye: boolean;
  /** A header stated more than maxLength: the stream is corrupt. */
  oversized: number;
}

/**
 * Finds complete frames in `chunk[start, end)` and writes (start, length)
 * pairs into `offsets` (grown by the caller when `count` reaches its capacity:
 * this function stops early then, with `consumed` at the next frame).
 */
export function parseFrames(chunk: Uint8Array, start: number, end: number, maxLength: number, offsets: Int32Array, out: ParsedFrames): ParsedFrames {
  let p = start;
  let n = 0;
  const cap = offsets.length >>> 1;
  out.goodbye = false;
  out.oversized = 0;
  while (p + FRAME_HEADER_BYTES <= end && n < cap) {
    const len = readFrameHeader(chunk, p);
    if (len === GOODBYE) {
      out.goodbye = true;
      p += FRAME_HEADER_BYTES;
      break;
    }
    if (len > maxLength) {
      out.oversized = len;
      break;
    }
    if (p + FRAME_HEADER_BYTES + len > end) break;
    offsets[2 * n] = p + FRAME_HEADER_BYTES;
    offsets[2 * n + 1] = len;
    n++;
    p += FRAME_HEADER_BYTES + len;
  }
  out.count = n;
  out.consumed = p;
  return out;
}
