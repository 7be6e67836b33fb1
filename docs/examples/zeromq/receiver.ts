// The receiver binds a PULL socket; by default an ipc:// endpoint (a socket
// file, mode 0600, removed on close). `listen: "tcp"` binds 127.0.0.1 instead,
// and the same sender code works across machines.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { zeromqTransport } from "@ipc-sampler/zeromq";

const receiver = await zeromqTransport.listen({ listen: "ipc", expectedProducers: 3 });
console.log(`bound ${String(receiver.address.endpoint)}`);

const script = fileURLToPath(new URL("sender.js", import.meta.url));
const senders = [0, 1, 2].map(() => spawn(process.execPath, [script, JSON.stringify(receiver.address)], { stdio: "inherit" }));

let count = 0;
for await (const batch of receiver.batches()) count += batch.count;
await receiver.close();

await Promise.all(senders.map((s) => new Promise((resolve) => (s.exitCode !== null ? resolve(s.exitCode) : s.on("exit", resolve)))));
console.log(`received ${count} messages from ${receiver.producers.closed} producers`);
