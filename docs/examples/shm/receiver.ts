// The receiver creates a segment in /dev/shm with one ring per producer and
// reads messages in place; it sleeps on a futex when every ring is empty.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { shmTransport } from "@ipc-sampler/shm";

const receiver = await shmTransport.listen({ expectedProducers: 2, ringBytes: 1 << 20, maxProducers: 2 });
console.log(`segment ${String(receiver.address.path)}, largest message ${receiver.maxMessageSize} bytes`);

const script = fileURLToPath(new URL("sender.js", import.meta.url));
const senders = [0, 1].map(() => spawn(process.execPath, [script, JSON.stringify(receiver.address)], { stdio: "inherit" }));

let count = 0;
let sum = 0;
for await (const batch of receiver.batches()) {
  // batch.data is a view of the shared ring: read it before asking for the next batch.
  for (let i = 0; i < batch.count; i++) sum += batch.data[batch.offsets[2 * i]!]!;
  count += batch.count;
}
await receiver.close(); // unmaps and unlinks the segment

await Promise.all(senders.map((s) => new Promise((resolve) => (s.exitCode !== null ? resolve(s.exitCode) : s.on("exit", resolve)))));
console.log(`received ${count} messages, first bytes summing to ${sum}`);
