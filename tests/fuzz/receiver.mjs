// The receiving process of the fuzzer: node receiver.mjs <module> <export> <listen options JSON>
// Prints {"address": …}, then iterates forever, counting messages, good
// messages ("GOOD" + u32 seq, 8 bytes) and producer losses by code. A line
// "report" on stdin prints {"messages", "good", "oversized", "lost", "rss", "failure", "producers"}.
const [mod, exportName, json] = process.argv.slice(2);
const transport = (await import(mod))[exportName];
const lost = {};
const r = await transport.listen({ ...JSON.parse(json), expectedProducers: 1e9, onPeerLost: (e) => (lost[e.code] = (lost[e.code] ?? 0) + 1) });
process.stdout.write(JSON.stringify({ address: r.address }) + "\n");
let messages = 0;
// Messages longer than the channel's maxMessageSize: never to be delivered, whatever a peer sends.
let oversized = 0;
const max = r.address.maxMessageSize ?? Infinity;
let good = 0;
let failure;
// Pipes: "admit" opens one and prints the write end's descriptor in this process ({"admitted"}),
// which the other side opens through /proc; "release" then closes this process's copy.
const pending = [];
process.stdin.setEncoding("utf8").on("data", (t) => {
  for (const line of t.split("\n")) {
    if (line === "admit") void r.admit().then((a) => (pending.push(a), process.stdout.write(JSON.stringify({ admitted: { fd: a.inherit[0], address: a.address } }) + "\n")), (err) => process.stdout.write(JSON.stringify({ admitted: null, error: String(err) }) + "\n"));
    if (line === "release") for (const a of pending.splice(0)) a.release();
    if (line === "report") process.stdout.write(JSON.stringify({ messages, good, oversized, lost, rss: process.memoryUsage().rss, failure, producers: r.producers }) + "\n");
    if (line === "close") void r.close().then(() => process.exit(0));
  }
});
try {
  for await (const b of r.batches()) {
    messages += b.count;
    for (let i = 0; i < b.count; i++) {
      const at = b.offsets[2 * i];
      const d = b.data;
      if (b.offsets[2 * i + 1] > max) oversized++;
      if (b.offsets[2 * i + 1] === 8 && d[at] === 0x47 && d[at + 1] === 0x4f && d[at + 2] === 0x4f && d[at + 3] === 0x44) good++;
    }
  }
} catch (err) {
  // Iteration ended with an error: a typed one is a finding only if it is not a ChannelError.
  failure = `${err?.constructor?.name}: ${err?.code ?? ""} ${err?.message}`;
}
