// Maps the segment and claims a free ring; write() copies the message into it.
import { shmTransport, type ShmAddress } from "@ipc-sampler/shm";

const address = JSON.parse(process.argv[2] ?? "") as ShmAddress;
const sender = await shmTransport.connect(address, { timeoutMs: 5000 });

const message = new Uint8Array(4096);
for (let i = 0; i < 5000; i++) {
  message[0] = 1;
  if (!sender.write(message)) await sender.drain(); // the ring is full: wait for the reader
}
await sender.close();
