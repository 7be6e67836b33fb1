// The classic bounded buffer: K slots in a shared segment and three named
// semaphores (empty, full, mutex), all created here and unlinked on close.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { semaphoreTransport, type SemaphoreAddress } from "@ipc-sampler/semaphore";

const receiver = await semaphoreTransport.listen({ expectedProducers: 2, slots: 8 });
const address = receiver.address as SemaphoreAddress;
console.log(`${address.slots} slots of ${address.slotSize} bytes in /dev/shm/${address.name}`);

const script = fileURLToPath(new URL("sender.js", import.meta.url));
const senders = [1, 2].map((id) => spawn(process.execPath, [script, JSON.stringify(address), String(id)], { stdio: "inherit" }));

let count = 0;
let total = 0;
for await (const message of receiver) {
  count++;
  total += new DataView(message.buffer, message.byteOffset, message.byteLength).getUint32(0, true);
}
await receiver.close();

await Promise.all(senders.map((s) => new Promise((resolve) => (s.exitCode !== null ? resolve(s.exitCode) : s.on("exit", resolve)))));
console.log(`received ${count} messages; their values sum to ${total}`);
