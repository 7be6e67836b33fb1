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
