// A journal in a directory of memory-mapped files. Given a `directory`, the
// journal is kept on close, so it can be replayed later by any process.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { mmapTransport, openJournal, type JournalReceiver } from "@ipc-sampler/mmap";

const directory = path.join(mkdtempSync(path.join(tmpdir(), "journal-example-")), "journal");
const receiver = (await mmapTransport.listen({ directory, expectedProducers: 1 })) as JournalReceiver;

const sender = spawn(process.execPath, [fileURLToPath(new URL("sender.js", import.meta.url)), JSON.stringify(receiver.address)], { stdio: "inherit" });

let live = 0;
for await (const batch of receiver.batches()) live += batch.count;
const position = receiver.position(); // stream id -> next sequence number: save it to replay from there later
await receiver.close(); // the journal stays on disk
await new Promise((resolve) => (sender.exitCode !== null ? resolve(sender.exitCode) : sender.on("exit", resolve)));

// Replay: read the records again, from the beginning or from a saved position.
let replayed = 0;
for (const record of openJournal(directory).replay()) if (record.data.byteLength > 0) replayed++;
let after = 0;
for (const _ of openJournal(directory).replay({ from: position })) after++;
console.log(`received ${live} messages live, replayed ${replayed} from disk, ${after} after the saved position`);

rmSync(path.dirname(directory), { recursive: true, force: true });
