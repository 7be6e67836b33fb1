import { describe, expect, it } from "vitest";
import { BatchBuffers } from "../src/batch-buffers.js";

/** Leases `n` buffers of `bytes`, gives them all back, leases `n` again: how many of the second round were given back ones. */
function reusedAfterBurst(bytes: number, n: number): number {
  const pool = new BatchBuffers();
  const first = Array.from({ length: n }, () => pool.lease(bytes));
  const seen = new Set(first.map((l) => l.buffer));
  for (const l of first) pool.drop(l);
  return Array.from({ length: n }, () => pool.lease(bytes)).filter((l) => seen.has(l.buffer)).length;
}

describe("BatchBuffers", () => {
  it("keeps a 16 MiB backlog of 64 KiB buffers: a burst of 256 in flight is served again from the pool", () => {
    // A receiver queues up to 16 MiB before it stops reading; a consumer
    // releasing them after such a burst must not leave the next burst to fresh memory.
    expect(reusedAfterBurst(64 * 1024, 256)).toBe(256);
    expect(reusedAfterBurst(64 * 1024, 300)).toBe(256);
  });

  it("keeps at least 8 of a size class whose 8 exceed 16 MiB", () => {
    expect(reusedAfterBurst(4 * 1024 * 1024, 10)).toBe(8);
  });

  it("a buffer goes back only when its last holder drops it", () => {
    const pool = new BatchBuffers();
    const l = pool.lease(100_000);
    l.holders++;
    pool.drop(l);
    expect(pool.lease(100_000).buffer).not.toBe(l.buffer);
    pool.drop(l);
    expect(pool.lease(100_000).buffer).toBe(l.buffer);
  });
});
