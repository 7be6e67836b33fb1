// Appends records to its own stream of segment files; a record is committed
// by one atomic store, so a crash can never leave half a record to read.
import { mmapTransport, type JournalSender, type MmapAddress } from "@ipc-sampler/mmap";

const address = JSON.parse(process.argv[2] ?? "") as MmapAddress;
const sender = (await mmapTransport.connect(address, { timeoutMs: 5000 })) as JournalSender;

for (let i = 0; i < 1000; i++) sender.write(new TextEncoder().encode(`event ${i}`));
sender.sync(); // every record so far, and the files holding it, would survive a power loss
await sender.close();
