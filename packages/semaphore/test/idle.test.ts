import { expect, it } from "vitest";
import { semaphoreTransport } from "../src/index.js";

it("a receiver that spun for a quick peer goes back to sleeping once its producer falls silent: no CPU while idle", async () => {
  const receiver = await semaphoreTransport.listen({ expectedProducers: 1 });
  const sender = await semaphoreTransport.connect(receiver.address);
  const it = receiver.batches()[Symbol.asyncIterator]();
  // Traffic first, so the receiver's spin budget is full when the silence starts.
  for (let i = 0; i < 200; i++) {
    sender.write(new Uint8Array(8));
    await it.next();
  }
  const next = it.next();
  await new Promise((r) => setTimeout(r, 200)); // past the spins, into the semaphore wait
  const before = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 1500));
  const used = process.cpuUsage(before);
  // Under 5 % of one CPU over the window (a spinning receiver takes all of it).
  expect((used.user + used.system) / 1000).toBeLessThan(75);
  await sender.close();
  await next;
  await receiver.close();
});
