// TCP is the one transport that can cross machines. By default the receiver
// binds 127.0.0.1 and the kernel picks a free port; the address says which.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ChannelError } from "@ipc-sampler/core";
import { tcpTransport } from "@ipc-sampler/socket";

const receiver = await tcpTransport.listen({
  host: "127.0.0.1",
  port: 0,
  expectedProducers: 1,
  maxMessageSize: 64 * 1024,
  // A producer that dies without close() is reported here instead of ending iteration with an error.
  onPeerLost: (error: ChannelError) => console.error(`lost a producer: ${error.message}`),
});
console.log(`listening on ${String(receiver.address.host)}:${String(receiver.address.port)}`);

const sender = spawn(process.execPath, [fileURLToPath(new URL("sender.js", import.meta.url)), JSON.stringify(receiver.address)], { stdio: "inherit" });

let bytes = 0;
let count = 0;
for await (const message of receiver) {
  bytes += message.byteLength;
  count++;
}
await receiver.close();
await new Promise((resolve) => (sender.exitCode !== null ? resolve(sender.exitCode) : sender.on("exit", resolve)));
console.log(`received ${count} messages, ${bytes} bytes`);
