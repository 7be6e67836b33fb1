// Connects to the socket path in the address; never creates or removes it.
import { udsTransport, type UdsAddress } from "@ipc-sampler/socket";

const address = JSON.parse(process.argv[2] ?? "") as UdsAddress;
const id = Number(process.argv[3] ?? 0);
const sender = await udsTransport.connect(address, { timeoutMs: 5000 });

const message = new Uint8Array(256);
for (let i = 0; i < 500; i++) {
  message[0] = id;
  new DataView(message.buffer).setUint32(1, i); // the caller may reuse its buffer: write() copies
  if (!sender.write(message)) await sender.drain();
}
await sender.close();
