// Opens the queue by name. When the queue is full, write() returns false and
// drain() waits until the receiver has made room.
import { mqueueTransport, type MqueueAddress } from "@ipc-sampler/mqueue";

const address = JSON.parse(process.argv[2] ?? "") as MqueueAddress;
const sender = await mqueueTransport.connect(address, { timeoutMs: 5000 });

const message = new Uint8Array(100);
for (let i = 0; i < 2000; i++) {
  message.fill(i & 0xff);
  if (!sender.write(message)) await sender.drain();
}
await sender.close();
