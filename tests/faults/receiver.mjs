// The receiving process of the fault-injection runs:
//   node receiver.mjs <module-url> <export> <listen-options-json> <producers> <seed> <duration-ms>
// Listens, starts the producers itself (admit(), so an anonymous pipe works
// too) with its own stdout, so their reports reach the harness even after
// this process is killed, and checks every delivered message (message.mjs).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { check } from "./message.mjs";

const [url, exportName, optionsJson, producersText, seed, duration] = process.argv.slice(2);
const producers = Number(producersText);
const report = (o) => process.stdout.write(JSON.stringify({ role: "receiver", ...o }) + "\n");
const transport = (await import(url))[exportName];
let r;
try {
  r = await transport.listen({
    ...JSON.parse(optionsJson),
    expectedProducers: producers,
    onPeerLost: (e) => report({ lost: { code: String(e?.code), name: e?.constructor?.name }, at: Date.now() }),
  });
} catch (err) {
  // Not a fault of the run: the machine's limits (ELIMIT: e.g. RLIMIT_MSGQUEUE, shared by every process of this user).
  report({ listenError: { code: String(err?.code), message: String(err?.message) } });
  process.exit(1);
}
report({ address: r.address });
const pids = [];
for (let i = 0; i < producers; i++) {
  const a = await r.admit();
  const args = [fileURLToPath(new URL("./producer.mjs", import.meta.url)), url, exportName, JSON.stringify(a.address), String(i), seed, duration];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit", ...a.inherit] });
  a.release();
  child.on("exit", () => report({ reaped: child.pid, at: Date.now() }));
  pids.push(child.pid);
}
report({ producers: pids });
const next = new Array(producers).fill(0);
let first = true;
try {
  for await (const b of r.batches()) {
    if (first) report({ receiving: true }), (first = false);
    for (let i = 0; i < b.count; i++) {
      const at = b.offsets[2 * i];
      const problem = check(b.data.subarray(at, at + b.offsets[2 * i + 1]), producers, next);
      if (problem) report({ finding: problem });
    }
  }
} catch (err) {
  report({ iterationError: { code: String(err?.code), name: err?.constructor?.name, message: String(err?.message) } });
}
report({ done: true, received: next, at: Date.now() });
await r.close();
process.exit(0);
