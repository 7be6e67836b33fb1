import { checksum32, checksumWords, useWordSum } from "@ipc-sampler/core";
import { afterEach, describe, expect, it } from "vitest";
import { nativeWordSum } from "../src/index.js";

/** core's own result: its WebAssembly and JavaScript loops, checked against the definition in core's tests. */
function reference(bytes: Uint8Array, offset: number, length: number): number {
  const registered = nativeWordSum();
  useWordSum(undefined);
  try {
    return checksum32(bytes, offset, length);
  } finally {
    useWordSum(registered);
  }
}

describe("native checksum word sum", () => {
  const sum = nativeWordSum();
  const data = new Uint8Array((1 << 20) + 64).map((_, i) => (i * 7919 + (i >> 5)) & 0xff);
  afterEach(() => useWordSum(sum));

  it("is registered with core when posix loads", () => {
    expect(typeof sum).toBe("function");
    let calls = 0;
    useWordSum((...args) => (calls++, sum!(...args)));
    expect(checksum32(data, 3, 4096)).toBe(reference(data, 3, 4096));
    expect(calls).toBe(1);
  });

  it("matches the definition at every length, alignment and first word", () => {
    for (const length of [1024, 1028, 1060, 4096, 65_536, 65_537, 1 << 20]) {
      for (const offset of [0, 1, 2, 3, 5, 64]) {
        expect(checksum32(data, offset, length)).toBe(reference(data, offset, length));
      }
    }
    // A run that starts at word 2 (what the scenario verifier asks for), short and long, with and without the tail.
    for (const words of [0, 1, 7, 15, 16, 17, 1000, 70_001]) {
      useWordSum(undefined);
      const wasm = checksumWords(data, 8, words * 4 + 8, 2);
      expect(sum!(data, 16, words * 4, 2)).toBe(wasm);
    }
  });

  it("gives core's WebAssembly result on payloads in shared memory too", () => {
    const shared = new Uint8Array(new SharedArrayBuffer(70_000));
    shared.set(data.subarray(0, 70_000));
    useWordSum(undefined);
    const wasm = checksum32(shared, 1, 69_990);
    useWordSum(sum);
    expect(checksum32(shared, 1, 69_990)).toBe(wasm);
  });
});
