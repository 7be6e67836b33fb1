// The receiver owns the pipe: it makes one per producer and hands the write
// end to a child process it starts, as that child's file descriptor 3.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { pipeTransport } from "@ipc-sampler/pipe";

const receiver = await pipeTransport.listen({ expectedProducers: 1 });
const admission = await receiver.admit(); // a fresh pipe for one producer

const sender = spawn(process.execPath, [fileURLToPath(new URL("sender.js", import.meta.url)), JSON.stringify(admission.address)], {
  stdio: ["ignore", "inherit", "inherit", ...admission.inherit], // the write end becomes the child's fd 3
});
admission.release(); // close our copy of the write end, so end-of-file means "producer done"

const decoder = new TextDecoder();
let count = 0;
for await (const message of receiver) {
  count++;
  if (count <= 3) console.log(`received: ${decoder.decode(message)}`);
}
await receiver.close();

const code = await new Promise<number | null>((resolve) => (sender.exitCode !== null ? resolve(sender.exitCode) : sender.on("exit", resolve)));
console.log(`received ${count} messages; sender exited with ${code}`);
