// Started by receiver.ts with the pipe's write end as fd 3 and the address in argv.
import { pipeTransport, type PipeAddress } from "@ipc-sampler/pipe";

const address = JSON.parse(process.argv[2] ?? "") as PipeAddress;
const sender = await pipeTransport.connect(address);

const encoder = new TextEncoder();
for (let i = 0; i < 1000; i++) {
  // write() queues a copy; when it returns false, wait for the pipe to drain.
  if (!sender.write(encoder.encode(`message ${i} from process ${process.pid}`))) await sender.drain();
}
await sender.close(); // flushes, then closes the write end: the receiver's loop ends
