import { spawn, type ChildProcess } from "node:child_process";
import { closingAfterEach, exitOf, trackProcess } from "@ipc-sampler/core/conformance";
import { describe, expect, it } from "vitest";
import type { MessageBatch, Receiver } from "@ipc-sampler/core";
import { zeromqTransport } from "../src/index.js";

const DIST = new URL("../dist/index.js", import.meta.url).href;

/**
 * A producer process: sends `count` messages of `size` bytes, message k
 * starting with k (u32), one per event-loop turn so each travels as a batch
 * of its own; then closes, prints "closed" and exits.
 */
function producerProcess(address: unknown, count: number, size: number, perTurn = true): ChildProcess {
  const code = `
    const { zeromqTransport } = await import(${JSON.stringify(DIST)});
    const s = await zeromqTransport.connect(${JSON.stringify(address)});
    const m = Buffer.alloc(${size});
    for (let k = 0; k < ${count}; k++) {
      m.writeUInt32LE(k, 0);
      if (!s.write(m)) await s.drain();
      ${perTurn ? "await new Promise((r) => setImmediate(r));" : ""}
    }
    await s.close();
    console.log("closed");
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  trackProcess(child);
  return child;
}

const exited = exitOf;

describe("zeromq goodbye", () => {
  let receiver: Receiver | undefined;
  const closing = closingAfterEach();

  // libzmq drops bytes still unread in the kernel when a connection paused at
  // its ZMQ_RCVHWM sees the peer hang up. So a producer's close() must not
  // finish (and the process must not exit) before the receiver has read its
  // goodbye, however far behind the consumer is.
  it("holds a producer's close() until a paused receiver has read its goodbye, then delivers every message", async () => {
    // Many small batches: more than the receiver takes in before it pauses.
    const COUNT = 3000;
    const SIZE = 64;
    const PRODUCERS = 2;
    receiver = closing(await zeromqTransport.listen({ expectedProducers: PRODUCERS, rcvHwm: 1 }));
    const kids = Array.from({ length: PRODUCERS }, () => producerProcess(receiver!.address, COUNT, SIZE));
    let closedEarly = 0;
    for (const k of kids) k.stdout!.on("data", () => closedEarly++);
    // Nobody reads for a while: the receiving connections sit at their high-water mark.
    await new Promise((r) => setTimeout(r, 1500));
    expect(closedEarly).toBe(0);
    expect(kids.every((k) => k.exitCode === null)).toBe(true);

    // Then a slow consumer, which keeps the connections paused as the goodbyes arrive.
    const seen = new Map<number, number>();
    let bad = 0;
    const it = receiver.batches();
    for (;;) {
      const next = await it.next();
      if (next.done) break;
      const b: MessageBatch = next.value;
      for (let j = 0; j < b.count; j++) {
        const off = b.offsets[2 * j]!;
        const len = b.offsets[2 * j + 1]!;
        const k = seen.get(b.producer) ?? 0;
        if (len !== SIZE || Buffer.from(b.data.buffer, b.data.byteOffset + off, 4).readUInt32LE(0) !== k) bad++;
        seen.set(b.producer, k + 1);
      }
      if (b.producer === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(bad).toBe(0);
    expect([...seen.values()]).toEqual(Array(PRODUCERS).fill(COUNT));
    expect(receiver.producers).toMatchObject({ attached: PRODUCERS, closed: PRODUCERS, lost: 0 });
    expect(await Promise.all(kids.map(exited))).toEqual(Array(PRODUCERS).fill(0));
  }, 30_000);

  // The receiver answers each goodbye as it reads it, and may close the moment
  // the last one is in: a producer then sees its connections drop while the
  // answer is still in flight, and must still resolve close().
  it("resolves every producer's close() when the receiver closes right after the last goodbye", async () => {
    for (let round = 0; round < 8; round++) {
      const r = await zeromqTransport.listen({ expectedProducers: 3 });
      receiver = closing(r);
      const kids = [0, 1, 2].map(() => producerProcess(r.address, 200, 16, false));
      let n = 0;
      for await (const b of r.batches()) n += b.count;
      await r.close();
      receiver = undefined;
      expect(n).toBe(600);
      // A producer whose close() rejected exits non-zero (unhandled rejection).
      expect(await Promise.all(kids.map(exited))).toEqual([0, 0, 0]);
    }
  }, 60_000);
});
