// The receiver creates the socket file (mode 0600) and removes it on close.
// Any process of the same user that knows the path can connect: here we start
// one, but it could be any program.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { udsTransport } from "@ipc-sampler/socket";

const receiver = await udsTransport.listen({ expectedProducers: 2 });
console.log(`listening on ${String(receiver.address.path)}`);

const script = fileURLToPath(new URL("sender.js", import.meta.url));
const senders = [0, 1].map((id) => spawn(process.execPath, [script, JSON.stringify(receiver.address), String(id)], { stdio: "inherit" }));

// The fast path: one promise per batch of messages, not per message.
const perProducer = [0, 0];
for await (const batch of receiver.batches()) {
  perProducer[batch.producer] = (perProducer[batch.producer] ?? 0) + batch.count;
}
await receiver.close(); // closes the server and unlinks the socket file

await Promise.all(senders.map((s) => new Promise((resolve) => (s.exitCode !== null ? resolve(s.exitCode) : s.on("exit", resolve)))));
console.log(`received ${perProducer.join(" + ")} messages from ${senders.length} producers`);
