import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ChannelError, Receiver } from "@ipc-sampler/core";
import { afterEach, expect, it } from "vitest";
import { openSegment } from "@ipc-sampler/posix";
import { semaphoreTransport, type SemaphoreAddress } from "../src/index.js";
import { E_HOLDS_EMPTY, HEADER_BYTES, H_IN, SLOT_HEADER_BYTES, TABLE_WORD } from "../src/layout.js";

const HOLDER = fileURLToPath(new URL("./fixtures/mutex-holder.mjs", import.meta.url));
let child: ChildProcess | undefined;
let receiver: Receiver | undefined;

afterEach(async () => {
  child?.kill("SIGKILL");
  await receiver?.close();
});

it("a producer killed while holding the mutex does not deadlock the others", async () => {
  const lost: ChannelError[] = [];
  receiver = await semaphoreTransport.listen({ expectedProducers: 2, onPeerLost: (e) => lost.push(e) });
  const address = receiver.address as SemaphoreAddress;
  child = spawn(process.execPath, [HOLDER, address.name], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child!.stdout!.setEncoding("utf8").on("data", (t: string) => t.includes("holding") && resolve());
    child!.once("exit", () => reject(new Error("holder exited early")));
  });
  const sender = await semaphoreTransport.connect(address);
  for (let i = 0; i < 100; i++) sender.write(Uint8Array.of(i));
  const closing = sender.close();
  child.kill("SIGKILL");
  const got: number[] = [];
  const t0 = Date.now();
  for await (const m of receiver) got.push(m[0]!);
  await closing;
  expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
  expect(lost).toHaveLength(1);
  expect(lost[0]!.code).toBe("EPEERGONE");
  expect(Date.now() - t0).toBeLessThan(2000);
}, 10_000);

/** A receiver for one producer, that producer, and one message already read through `it`. */
async function onePassed() {
  receiver = await semaphoreTransport.listen({ expectedProducers: 1 });
  const address = receiver.address as SemaphoreAddress;
  const sender = await semaphoreTransport.connect(address);
  const it = receiver.batches();
  await sender.send(new Uint8Array([1]));
  expect((await it.next()).value?.count).toBe(1);
  return { address, sender, it };
}

it("a segment another process truncates: the receiver's iteration ends with EPROTO, the sender's next send fails with EPROTO; neither dies of SIGBUS", async () => {
  const { address, sender, it } = await onePassed();
  execFileSync("truncate", ["-s", "0", `/dev/shm/${address.name}`]);
  // This send writes into the lost pages (zeros now, shared with no one) and wakes the receiver.
  await sender.send(new Uint8Array([2])).catch(() => {});
  await expect(it.next()).rejects.toMatchObject({ code: "EPROTO", message: expect.stringMatching(/truncated by a peer/) });
  await expect(sender.send(new Uint8Array([3]))).rejects.toMatchObject({ code: "EPROTO" });
  await sender.close().catch(() => {});
});

it("a commit counter moved outside the protocol, further ahead than the ring holds: the receiver's iteration ends with EPROTO and reads no stale slots", async () => {
  const { address, sender, it } = await onePassed();
  // Another mapping of the same segment, as a hostile producer has.
  const seg = openSegment(address.name, HEADER_BYTES + address.slots * address.slotSize);
  const w = new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, 16);
  Atomics.add(w, H_IN, 1000);
  seg.close();
  // The next honest commit lands 1,000 slots past what the receiver read, and wakes it.
  await sender.send(new Uint8Array([2])).catch(() => {});
  const t0 = Date.now();
  await expect(it.next()).rejects.toMatchObject({ code: "EPROTO", message: expect.stringMatching(/commit counter is 1001 slots ahead/) });
  expect(Date.now() - t0).toBeLessThan(2000);
  await sender.close().catch(() => {});
});

it("a slot forged in another producer's name is dropped with EPROTO; that producer's messages all arrive, and iteration ends when both close", async () => {
  const lost: ChannelError[] = [];
  receiver = await semaphoreTransport.listen({ onPeerLost: (e) => lost.push(e) });
  const address = receiver.address as SemaphoreAddress;
  const honest = await semaphoreTransport.connect(address);
  await honest.send(Uint8Array.of(1));
  // A second producer commits one slot under the protocol, naming the honest producer's table entry and a pid not its own.
  type Internals = { w: Int32Array; entry: number; seg: { buffer: Buffer }; empty: Sem; mutex: Sem; full: Sem; markEmptyHeld: unknown; markMutexOwned: unknown; markMutexFree: unknown };
  type Sem = { tryWait(mark?: unknown): boolean; post(mark?: unknown): void };
  const forger = (await semaphoreTransport.connect(address)) as unknown as Internals & { close(): Promise<void> };
  const w = forger.w;
  expect(forger.empty.tryWait(forger.markEmptyHeld) && forger.mutex.tryWait(forger.markMutexOwned)).toBe(true);
  const inSeq = Atomics.load(w, H_IN);
  const off = HEADER_BYTES + (inSeq & (address.slots - 1)) * address.slotSize;
  forger.seg.buffer.writeUInt32LE(1, off + SLOT_HEADER_BYTES); // one frame of one byte
  forger.seg.buffer[off + SLOT_HEADER_BYTES + 4] = 99;
  // Slot header: table entry, bytes used, flags, pid.
  w.set([(honest as unknown as Internals).entry, 5, 0, process.pid + 1], off >>> 2);
  Atomics.store(w, TABLE_WORD + forger.entry * 4 + E_HOLDS_EMPTY, 0);
  Atomics.store(w, H_IN, inSeq + 1);
  forger.full.post();
  forger.mutex.post(forger.markMutexFree);
  await honest.send(Uint8Array.of(2));
  await honest.close();
  await forger.close();
  const got: number[] = [];
  for await (const m of receiver) got.push(m[0]!);
  expect(got).toEqual([1, 2]);
  expect(lost.map((e) => e.code)).toEqual(["EPROTO"]);
  expect(lost[0]!.message).toMatch(/named table entry \d+ and pid \d+, which no attached producer holds/);
}, 10_000);
