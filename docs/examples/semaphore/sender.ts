// Each committed slot takes one `empty` unit and the `mutex`, then posts `full`.
import { semaphoreTransport, type SemaphoreAddress } from "@ipc-sampler/semaphore";

const address = JSON.parse(process.argv[2] ?? "") as SemaphoreAddress;
const value = Number(process.argv[3] ?? 1);
const sender = await semaphoreTransport.connect(address, { timeoutMs: 5000 });

const message = new Uint8Array(16);
new DataView(message.buffer).setUint32(0, value, true);
for (let i = 0; i < 1000; i++) {
  if (!sender.write(message)) await sender.drain(); // every slot is full: wait for the receiver
}
await sender.close();
