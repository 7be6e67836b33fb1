import { wasmWordSum } from "./checksum-wasm.js";

/** From this many words on, the SIMD loop wins over its copy and call (and a native loop over its call). */
const WASM_MIN_WORDS = 256;

/** Sum of mixWord over the `length >>> 2` whole words at `bytes[offset]`, the first being word `firstIndex`. */
export type WordSum = (bytes: Uint8Array, offset: number, length: number, firstIndex: number) => number;

let inPlace: WordSum | undefined;

/**
 * Hands long runs of checksumWords to `sum`, a loop that reads the bytes
 * where they are (the WebAssembly loop must copy them into its own memory
 * first, which costs more than the sum on a 1 MiB payload). Loading
 * @ipc-sampler/posix registers its native loop; undefined goes back to
 * WebAssembly. The result must be the same either way: only speed changes.
 */
export function useWordSum(sum: WordSum | undefined): void {
  inPlace = sum;
}

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
  if (whole - i >= WASM_MIN_WORDS && inPlace) {
    sum = inPlace(bytes, base + (i << 2), (whole - i) << 2, i);
    i = whole;
  } else if (whole - i >= WASM_MIN_WORDS) {
    const wasm = wasmWordSum(bytes, base + (i << 2), whole - i, i);
    if (wasm !== undefined) {
      sum = wasm;
      i = whole;
    }
  }
  if (whole - i >= 32) {
    // Long runs: a DataView reads unaligned words in one load each.
    const dv = new DataView(bytes.buffer, bytes.byteOffset + base);
    let s1 = 0;
    let k = Math.imul(i + 1, 0x9e3779b1);
    const step = 0x9e3779b1 | 0;
    for (; i + 1 < whole; i += 2) {
      const a = dv.getInt32(i << 2, true);
      const b = dv.getInt32((i + 1) << 2, true);
      const k2 = (k + step) | 0;
      sum = (sum + Math.imul(a ^ k, 0x85ebca77)) | 0;
      s1 = (s1 + Math.imul(b ^ k2, 0x85ebca77)) | 0;
      k = (k2 + step) | 0;
    }
    sum = (sum + s1) | 0;
  }
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
