/**
 * A 32-bit payload checksum built to be cheap in JavaScript and decomposable:
 * the sum over 32-bit little-endian words of mix(word, index), plus the
 * length. Order-sensitive (the index enters each term), so swapped, shifted,
 * torn or foreign bytes change it; a sum, so a producer whose payload only
 * changes in a few words can update a precomputed value instead of hashing
 * the whole payload again.
 */
export function mixWord(word: number, index: number): number {
  return Math.imul((word ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0, 0x85ebca77);
}

/** Sum of mixWord over words [fromWord, toWord) of `bytes` read at `base`; a trailing partial word is zero-padded. */
export function checksumWords(bytes: Uint8Array, base: number, length: number, fromWord = 0, toWord = Math.ceil(length / 4)): number {
  let sum = 0;
  const whole = Math.min(toWord, length >>> 2);
  let i = fromWord;
  let p = base + (i << 2);
  for (; i < whole; i++, p += 4) {
    const w = bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24);
    sum = (sum + mixWord(w, i)) | 0;
  }
  if (i < toWord && (length & 3) !== 0) {
    let w = 0;
    for (let k = 0; k < (length & 3); k++) w |= bytes[p + k]! << (8 * k);
    sum = (sum + mixWord(w, i)) | 0;
  }
  return sum;
}

/** Checksum of `length` bytes of `bytes` starting at `offset`. */
export function checksum32(bytes: Uint8Array, offset = 0, length = bytes.length - offset): number {
  return (checksumWords(bytes, offset, length) + length) >>> 0;
}
