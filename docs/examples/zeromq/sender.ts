// Each sender connects a PUSH socket; ZeroMQ fans the three in to one PULL socket.
import { zeromqTransport, type ZeromqAddress } from "@ipc-sampler/zeromq";

const address = JSON.parse(process.argv[2] ?? "") as ZeromqAddress;
const sender = await zeromqTransport.connect(address, { timeoutMs: 5000, lingerMs: 5000 });

const message = new TextEncoder().encode(`hello from ${process.pid}`);
for (let i = 0; i < 1000; i++) {
  if (!sender.write(message)) await sender.drain();
}
await sender.close(); // sends a goodbye after the last message; resolves once the receiver has it
