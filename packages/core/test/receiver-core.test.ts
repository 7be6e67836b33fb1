import { describe, expect, it } from "vitest";
import { ChannelError, ReceiverCore, type MessageBatch } from "../src/index.js";

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

describe("ReceiverCore hand-over", () => {
  it("settles a waiting batches() read with the batch pushed, one microtask from the push", async () => {
    const { c } = core();
    const it = c.batches();
    let got: IteratorResult<MessageBatch> | undefined;
    void it.next().then((r) => (got = r));
    const b = batch(new Uint8Array(8), 1, 8);
    c.push(b);
    await Promise.resolve();
    expect(got).toEqual({ value: b, done: false });
  });

  it("hands out the queue in order, then the end, whether the read waited or not", async () => {
    const { c } = core();
    const it = c.batches();
    const first = it.next();
    const b1 = batch(new Uint8Array(8), 1, 8);
    const b2 = batch(new Uint8Array(8), 2, 4);
    c.push(b1);
    c.push(b2);
    expect((await first).value).toBe(b1);
    expect((await it.next()).value).toBe(b2);
    const end = it.next();
    c.producerClosed(0);
    expect(await end).toEqual({ value: undefined, done: true });
    expect(await c.next()).toBeUndefined();
  });

  it("reports a lost producer to its handler outside the transport's call, and keeps waiting", async () => {
    const lost: string[] = [];
    const c = new ReceiverCore({ expectedProducers: 2, onPeerLost: (e) => lost.push(e.code), close: () => {} });
    c.attach();
    c.attach();
    const next = c.next();
    c.producerLost(0, new ChannelError("EPEERGONE", "gone"));
    expect(lost).toEqual([]);
    await Promise.resolve();
    await Promise.resolve();
    expect(lost).toEqual(["EPEERGONE"]);
    const b = batch(new Uint8Array(8), 1, 8);
    c.push(b);
    expect(await next).toBe(b);
  });
});
