// A producer of the fault-injection runs:
//   node producer.mjs <module-url> <export> <address-json> <producer-id> <seed> <duration-ms>
// Sends numbered, checksummed messages (message.mjs) for duration-ms, then
// closes. Reports on stdout, one JSON line each: connected, then done or the
// error that ended it (with the operation it came from and when).
import { encode } from "./message.mjs";

const [url, exportName, addressJson, idText, seedText, durationText] = process.argv.slice(2);
const id = Number(idText);
const report = (o) => process.stdout.write(JSON.stringify({ role: "producer", id, pid: process.pid, ...o }) + "\n");
let x = (Number(seedText) + id * 0x9e3779b9) >>> 0 || 1;
const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 4294967296);

const transport = (await import(url))[exportName];
let op = "connect";
let seq = 0;
try {
  const s = await transport.connect(JSON.parse(addressJson));
  report({ connected: true });
  const big = Math.min(s.maxMessageSize, 64 * 1024);
  const deadline = Date.now() + Number(durationText);
  while (Date.now() < deadline) {
    const size = next() < 0.05 ? 16 + Math.floor(next() * (big - 16)) : 16 + Math.floor(next() * 512);
    op = "write";
    if (!s.write(encode(id, seq, size))) {
      seq++;
      op = "drain";
      await s.drain();
    } else seq++;
    // Let the event loop see the peer go even when every write is accepted.
    if ((seq & 63) === 0) await new Promise((r) => setImmediate(r));
  }
  op = "close";
  await s.close();
  report({ done: true, sent: seq, at: Date.now() });
} catch (err) {
  report({ error: { code: String(err?.code), name: err?.constructor?.name }, op, sent: seq, at: Date.now() });
}
