import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ChannelError, Receiver } from "@ipc-sampler/core";
import { afterEach, expect, it } from "vitest";
import { semaphoreTransport, type SemaphoreAddress } from "../src/index.js";

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

it("a segment another process truncates: the receiver's iteration ends with EPROTO, the sender's next send fails with EPROTO; neither dies of SIGBUS", async () => {
  receiver = await semaphoreTransport.listen({ expectedProducers: 1 });
  const address = receiver.address as SemaphoreAddress;
  const sender = await semaphoreTransport.connect(address);
  const it = receiver.batches();
  await sender.send(new Uint8Array([1]));
  expect((await it.next()).value?.count).toBe(1);
  execFileSync("truncate", ["-s", "0", `/dev/shm/${address.name}`]);
  // This send writes into the lost pages (zeros now, shared with no one) and wakes the receiver.
  await sender.send(new Uint8Array([2])).catch(() => {});
  await expect(it.next()).rejects.toMatchObject({ code: "EPROTO", message: expect.stringMatching(/truncated by a peer/) });
  await expect(sender.send(new Uint8Array([3]))).rejects.toMatchObject({ code: "EPROTO" });
  await sender.close().catch(() => {});
});
