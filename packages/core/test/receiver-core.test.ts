import { describe, expect, it } from "vitest";
import { ReceiverCore, type MessageBatch } from "../src/index.js";

function batch(data: Uint8Array, count: number, size: number): MessageBatch {
  const offsets = new Int32Array(2 * count);
  for (let i = 0; i < count; i++) {
    offsets[2 * i] = i * size;
    offsets[2 * i + 1] = size;
  }
  return { count, data, offsets, producer: 0 };
}

function core() {
  const pressure: boolean[] = [];
  const c = new ReceiverCore({ expectedProducers: 1, onPressure: (high) => pressure.push(high), close: () => {} });
  c.attach();
  return { c, pressure };
}

describe("ReceiverCore backpressure", () => {
  it("says the consumer is behind past 64 waiting batches, and caught up at 8", async () => {
    const { c, pressure } = core();
    const data = new Uint8Array(64);
    for (let i = 0; i < 64; i++) c.push(batch(data, 1, 64));
    expect(pressure).toEqual([]);
    c.push(batch(data, 1, 64));
    expect(pressure).toEqual([true]);
    for (let i = 0; i < 56; i++) await c.next();
    expect(pressure).toEqual([true]);
    await c.next();
    expect(pressure).toEqual([true, false]);
  });

  it("says so past 16 MiB waiting in a few large batches, and caught up at 4 MiB", async () => {
    const { c, pressure } = core();
    const MiB = 1024 * 1024;
    const big = new Uint8Array(6 * MiB);
    c.push(batch(big, 2, 3 * MiB)); // 6 MiB
    c.push(batch(big, 6, MiB)); // 12 MiB
    expect(pressure).toEqual([]);
    c.push(batch(big, 5, MiB)); // 17 MiB in 3 batches
    expect(pressure).toEqual([true]);
    await c.next(); // 11 MiB left
    await c.next(); // 5 MiB left
    expect(pressure).toEqual([true]);
    c.push(batch(big, 1, 10)); // a small one keeps the queue non-empty
    await c.next(); // 10 bytes left
    expect(pressure).toEqual([true, false]);
  });
});
