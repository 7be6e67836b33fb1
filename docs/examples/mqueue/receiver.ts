// The receiver creates the queue (mq_open with O_EXCL, mode 0600) and unlinks
// it on close. Its name is all a producer needs.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { mqueueTransport, type MqueueAddress } from "@ipc-sampler/mqueue";

const receiver = await mqueueTransport.listen({ expectedProducers: 1 });
const address = receiver.address as MqueueAddress;
console.log(`queue ${address.name}: ${address.maxMessages} kernel messages of ${address.messageSize} bytes`);

const sender = spawn(process.execPath, [fileURLToPath(new URL("sender.js", import.meta.url)), JSON.stringify(address)], { stdio: "inherit" });

let count = 0;
for await (const batch of receiver.batches()) count += batch.count;
await receiver.close(); // mq_unlink

await new Promise((resolve) => (sender.exitCode !== null ? resolve(sender.exitCode) : sender.on("exit", resolve)));
console.log(`received ${count} messages`);
