import { describe, expect, it } from "vitest";
import { checksum32, checksumWords, mixWord } from "../src/checksum.js";

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
