import type { MessageBatch } from "../interface.js";

/** Message `i` of a reuse check: `length` bytes of a pattern that differs per message. */
export function reusePattern(i: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let j = 0; j < length; j++) b[j] = (i * 131 + j * 7) & 0xff;
  return b;
}

/** Messages of 64 KiB and up: the ones a receiver with reuseBatches puts in pooled memory. */
const LARGE = 64 * 1024;

/**
 * Reads every batch in place, before asking for the next (what reuseBatches
 * allows), checking message `i` against `reusePattern(i, sizes[i])` right
 * then. Returns how many arrived, how many were large, and in how many
 * distinct buffers the large ones were: fewer than the large ones when
 * memory was reused.
 */
export async function readInPlace(batches: AsyncIterable<MessageBatch>, sizes: readonly number[]): Promise<{ count: number; large: number; buffers: number; wrong: number[] }> {
  const buffers = new Set<ArrayBufferLike>();
  const wrong: number[] = [];
  let count = 0;
  let large = 0;
  for await (const b of batches) {
    for (let k = 0; k < b.count; k++, count++) {
      const m = Buffer.from(b.data.buffer, b.data.byteOffset + b.offsets[2 * k]!, b.offsets[2 * k + 1]!);
      if (count >= sizes.length || !m.equals(reusePattern(count, sizes[count]!))) wrong.push(count);
      if (m.length >= LARGE) {
        large++;
        buffers.add(b.data.buffer);
      }
    }
  }
  return { count, large, buffers: buffers.size, wrong };
}

/**
 * Reads every batch in place, like readInPlace, where message `i` is `size`
 * bytes of the value `i % 251` (cheap to fill in a producer's loop: `m.fill(i % 251)`).
 * Counts the messages and those intact: a buffer reused while a batch still
 * pointed into it shows another message's value at one end or the other.
 */
export async function readNumbered(batches: AsyncIterable<MessageBatch>, size: number): Promise<{ count: number; intact: number }> {
  let count = 0;
  let intact = 0;
  for await (const b of batches) {
    for (let k = 0; k < b.count; k++, count++) {
      const at = b.offsets[2 * k]!;
      const len = b.offsets[2 * k + 1]!;
      if (len === size && b.data[at] === count % 251 && b.data[at + len - 1] === count % 251) intact++;
    }
  }
  return { count, intact };
}
