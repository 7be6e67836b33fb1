import { afterEach, describe, expect, it } from "vitest";
import { checksum32, checksumWords, mixWord, useWordSum } from "../src/checksum.js";

/** The definition, word by word, with no fast path. */
function reference(bytes: Uint8Array, offset: number, length: number): number {
  let sum = 0;
  for (let i = 0; i * 4 < length; i++) {
    let w = 0;
    for (let k = 0; k < 4 && i * 4 + k < length; k++) w |= bytes[offset + i * 4 + k]! << (8 * k);
    sum = (sum + mixWord(w, i)) | 0;
  }
  return (sum + length) >>> 0;
}

describe("checksum32", () => {
  const data = new Uint8Array(70_001).map((_, i) => (i * 7919 + (i >> 3)) & 0xff);

  it("matches the word-by-word definition at every length and alignment", () => {
    for (const length of [0, 1, 3, 4, 5, 63, 64, 127, 128, 129, 130, 1000, 65_536, 69_990]) {
      for (const offset of [0, 1, 2, 3, 7]) {
        expect(checksum32(data, offset, length)).toBe(reference(data, offset, length));
      }
    }
  });

  it("changes when one byte changes, or two words swap", () => {
    const a = data.slice(0, 4096);
    const base = checksum32(a);
    const b = a.slice();
    b[2000] = b[2000]! ^ 1;
    expect(checksum32(b)).not.toBe(base);
    const c = a.slice();
    c.set(a.subarray(0, 4), 4);
    c.set(a.subarray(4, 8), 0);
    expect(checksum32(c)).not.toBe(base);
  });

  it("is a sum over word ranges, so a remainder can be precomputed", () => {
    const n = 1000;
    const whole = checksumWords(data, 8, n);
    const split = (checksumWords(data, 8, n, 0, 100) + checksumWords(data, 8, n, 100)) | 0;
    expect(split).toBe(whole);
  });
});

describe("useWordSum", () => {
  afterEach(() => useWordSum(undefined));

  it("hands long runs to the registered sum, with the run's first word, and short ones not", () => {
    const data = new Uint8Array(8192).map((_, i) => (i * 31) & 0xff);
    const expected = checksumWords(data, 8, 4096, 2);
    const calls: Array<[number, number, number]> = [];
    useWordSum((bytes, offset, length, first) => {
      calls.push([offset, length, first]);
      let sum = 0;
      for (let i = 0; i < length >>> 2; i++) {
        const p = offset + 4 * i;
        sum = (sum + mixWord(bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24), first + i)) | 0;
      }
      return sum;
    });
    expect(checksumWords(data, 8, 4096, 2)).toBe(expected);
    expect(checksumWords(data, 8, 100, 2)).toBe(reference0(data, 8, 100, 2));
    expect(calls).toEqual([[16, 4088, 2]]);
  });
});

/** checksumWords without its length term, word by word from `from` (for the short case above). */
function reference0(bytes: Uint8Array, offset: number, length: number, from: number): number {
  return (reference(bytes, offset, length) - length - partial(bytes, offset, from)) | 0;
}

function partial(bytes: Uint8Array, offset: number, words: number): number {
  let sum = 0;
  for (let i = 0; i < words; i++) {
    const p = offset + 4 * i;
    sum = (sum + mixWord(bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24), i)) | 0;
  }
  return sum;
}
