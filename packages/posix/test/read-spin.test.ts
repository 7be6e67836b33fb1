// The stream receivers' busy-read: while a caller waits on an empty queue,
// the receiver reads its descriptors itself for a bounded time, so a reply
// that is already there (or comes within the window) is handed over without
// a turn of the event loop; bytes are never read twice or out of order.
import { writeSync } from "node:fs";
import { StreamReceiver } from "@ipc-sampler/core/stream";
import { afterEach, describe, expect, it } from "vitest";
import { AdaptiveSpin, closeFd, pipe2, readSpin } from "../src/index.js";

function frame(bytes: number[]): Buffer {
  const b = Buffer.alloc(4 + bytes.length);
  b.writeUInt32LE(bytes.length, 0);
  b.set(bytes, 4);
  return b;
}

describe("readSpin", () => {
  const open: Array<{ close(): Promise<void> }> = [];
  const fds: number[] = [];
  afterEach(async () => {
    for (const r of open.splice(0)) await r.close();
    for (const fd of fds.splice(0)) closeFd(fd);
  });

  function receiverOnPipe(spin: ReturnType<typeof readSpin>): { receiver: StreamReceiver; writeFd: number } {
    const [readFd, writeFd] = pipe2();
    fds.push(writeFd);
    const receiver = new StreamReceiver({ transport: "test", maxMessageSize: 1 << 20 }, { admit: () => Promise.reject(new Error("no")), cleanup: () => {}, describe: () => "test producer", spin });
    receiver.attachFd(readFd);
    open.push(receiver);
    return { receiver, writeFd };
  }

  it("hands over what is already in the pipe within the call that waits, in order", async () => {
    const { receiver, writeFd } = receiverOnPipe(readSpin(1000));
    writeSync(writeFd, Buffer.concat([frame([1, 2, 3]), frame([4])]));
    const batch = receiver.core.next();
    // Read by the spin, not by the event loop: nobody waits any more.
    expect(receiver.core.waiting).toBe(false);
    const b = (await batch)!;
    expect(b.count).toBe(2);
    expect([...b.data.subarray(b.offsets[0]!, b.offsets[0]! + b.offsets[1]!)]).toEqual([1, 2, 3]);
    expect([...b.data.subarray(b.offsets[2]!, b.offsets[2]! + b.offsets[3]!)]).toEqual([4]);
  });

  it("without it the caller waits for the event loop", async () => {
    const { receiver, writeFd } = receiverOnPipe(undefined);
    writeSync(writeFd, frame([9]));
    const batch = receiver.core.next();
    expect(receiver.core.waiting).toBe(true);
    expect((await batch)!.count).toBe(1);
  });

  it("keeps a large frame whole while spin reads and event-loop reads take turns", async () => {
    const { receiver, writeFd } = receiverOnPipe(readSpin(200));
    const big = Buffer.alloc(300_000).map((_, i) => (i * 31) & 0xff);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(big.length, 0);
    const sleep = () => new Promise((r) => setTimeout(r, 20));
    // The event loop reads the start of the frame; its next read will land in the rest of that frame.
    writeSync(writeFd, Buffer.concat([frame([7]), head, big.subarray(0, 1000)]));
    await sleep();
    // More of the frame is in the pipe when a caller starts waiting: the spin must leave it to that read.
    writeSync(writeFd, big.subarray(1000, 31_000));
    const first = (await receiver.core.next())!;
    expect([...first.data.subarray(first.offsets[0]!, first.offsets[0]! + first.offsets[1]!)]).toEqual([7]);
    const pending = receiver.core.next();
    // Pieces under the pipe's 64 KiB, so this thread's blocking writes never wait for its own reads.
    for (let at = 31_000; at < big.length; at += 30_000) {
      await sleep();
      writeSync(writeFd, big.subarray(at, Math.min(at + 30_000, big.length)));
    }
    writeSync(writeFd, frame([8]));
    const whole = (await pending)!;
    expect(whole.count).toBe(1);
    expect(whole.offsets[1]).toBe(big.length);
    expect(Buffer.from(whole.data.subarray(whole.offsets[0]!, whole.offsets[0]! + big.length)).equals(big)).toBe(true);
    const last = (await receiver.core.next())!;
    expect([...last.data.subarray(last.offsets[0]!, last.offsets[0]! + 1)]).toEqual([8]);
  });

  it("learns only from spins that waited, and counts one answered after a preemption as failed", () => {
    const spin = new AdaptiveSpin(20_000);
    let calls = 0;
    // There at the first look: no spin happened, the window stays.
    expect(spin.spin(() => true)).toBe(true);
    expect(spin.window).toBe(20_000);
    // Came on the third look, no gap: it paid, the window stays whole.
    calls = 0;
    expect(spin.spin(() => ++calls >= 3)).toBe(true);
    expect(spin.window).toBe(20_000);
    // Came only after a 0.2 ms gap in the loop (as when the scheduler ran the peer on our CPU): failed.
    calls = 0;
    const gap = () => {
      if (++calls === 5) {
        const until = performance.now() + 0.2;
        while (performance.now() < until);
      }
      return calls > 9;
    };
    expect(spin.spin(gap)).toBe(true);
    expect(spin.window).toBe(10_000);
    // Never came: halves again.
    expect(spin.spin(() => false)).toBe(false);
    expect(spin.window).toBe(5000);
  });

  it("re-arms a spun-out window when the wait it gave up to was short (woke)", () => {
    // A wait under twice the window counts as short: 5 ms, so a loaded machine still makes it.
    const spin = new AdaptiveSpin(2500);
    for (let i = 0; i < 20 && spin.window > 0; i++) spin.window >= 4 ? (spin as unknown as { budget: number }).budget /= 2 : spin.spin(() => false);
    expect(spin.window).toBe(0);
    expect(spin.spin(() => false)).toBe(false); // no window: gives up at once
    spin.woke(); // delivered at once: a short wait
    expect(spin.window).toBe(2500);
  });

  it("is off where it could never pay", () => {
    expect(readSpin(0)).toBeUndefined();
    expect(new AdaptiveSpin(0).max).toBe(0);
  });
});
