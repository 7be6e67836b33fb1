// Opens the FIFO by its path for writing; never creates or removes it.
import { fifoTransport, type FifoAddress } from "@ipc-sampler/fifo";

const address = JSON.parse(process.argv[2] ?? "") as FifoAddress;
const sender = await fifoTransport.connect(address, { timeoutMs: 5000 });

for (let i = 0; i < 500; i++) {
  if (!sender.write(new TextEncoder().encode(`small message ${i}`))) await sender.drain();
}
// Larger than PIPE_BUF: sent as fragments that the receiver puts back together.
await sender.send(new Uint8Array(100_000).fill(7));
await sender.close();
