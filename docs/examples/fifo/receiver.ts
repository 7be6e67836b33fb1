// The receiver creates the FIFO (mode 0600) and removes it on close. Any
// process of the same user that knows the path can attach: the two senders
// here share the one FIFO, and the kernel never interleaves their packets.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { fifoTransport } from "@ipc-sampler/fifo";

const receiver = await fifoTransport.listen({ expectedProducers: 2 });
console.log(`FIFO at ${String(receiver.address.path)}`);

const script = fileURLToPath(new URL("sender.js", import.meta.url));
const senders = [0, 1].map(() => spawn(process.execPath, [script, JSON.stringify(receiver.address)], { stdio: "inherit" }));

let count = 0;
let largest = 0;
for await (const message of receiver) {
  count++;
  largest = Math.max(largest, message.byteLength);
}
await receiver.close(); // unlinks the FIFO

await Promise.all(senders.map((s) => new Promise((resolve) => (s.exitCode !== null ? resolve(s.exitCode) : s.on("exit", resolve)))));
console.log(`received ${count} messages; the largest was ${largest} bytes, reassembled whole`);
