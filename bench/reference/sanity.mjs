#!/usr/bin/env node
// Runs every reference once per case, one after another (each in a fresh
// process), and prints the raw JSON records, then a markdown table.
//   node bench/reference/sanity.mjs [--quick] > records.jsonl
// Cases: 1 producer x 200,000 x 64 B; 1 x 5,000 x 64 KiB; 2 x 100,000 x 64 B;
// C round trip 10,000 x 64 B. --quick divides the message counts by 10.
import { buildReferences, referenceCommands, runReference } from "./index.mjs";

const quick = process.argv.includes("--quick");
const q = (n) => (quick ? Math.max(100, Math.round(n / 10)) : n);
const cases = [
  { producers: 1, messages: q(200_000), size: 64 },
  { producers: 1, messages: q(5_000), size: 65536 },
  { producers: 2, messages: q(100_000), size: 64 },
];

const b = buildReferences();
if (!b.ok) {
  process.stderr.write(b.error + "\n");
  process.exit(1);
}
const rows = [];
for (const c of cases) {
  for (const cmd of referenceCommands({ mechanism: "all", ...c })) {
    const r = await runReference(cmd, { timeoutMs: 300_000 });
    process.stdout.write(JSON.stringify({ ...r, argv: cmd.argv.slice(1).join(" ") }) + "\n");
    rows.push(r);
  }
}
const rt = [];
for (const cmd of referenceCommands({ mechanism: "all", roundtrip: q(10_000), size: 64 })) {
  const r = await runReference(cmd, { timeoutMs: 120_000 });
  process.stdout.write(JSON.stringify({ ...r, argv: cmd.argv.slice(1).join(" ") }) + "\n");
  rt.push(r);
}
const f = (x, d = 0) => (typeof x === "number" ? x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "");
const out = ["", "| transport | P | M | S | ok | msgs/s | MB/s | p50 µs | p99 µs | CPU ms cons/prod | peak RSS MiB cons/prod |", "|---|---|---|---|---|---|---|---|---|---|---|"];
for (const r of rows) {
  out.push(`| ${r.transport} | ${r.producers ?? ""} | ${f(r.messages)} | ${f(r.size)} | ${r.ok ? "ok" : r.skipped ? `skipped: ${r.skipped}` : `FAIL: ${r.error}`} | ${f(r.msgsPerSec)} | ${f(r.mbPerSec, 1)} | ${f(r.latencyP50Us, 1)} | ${f(r.latencyP99Us, 1)} | ${r.cpuMs ? `${f(r.cpuMs.consumer)} / ${f(r.cpuMs.producers)}` : ""} | ${r.peakRssBytes ? `${f(r.peakRssBytes.consumer / 2 ** 20, 1)} / ${f(r.peakRssBytes.producers / 2 ** 20, 1)}` : ""} |`);
}
out.push("", "| transport | round trips | ok | p50 µs | p99 µs | p99.9 µs |", "|---|---|---|---|---|---|");
for (const r of rt) out.push(`| ${r.transport} | ${f(r.roundTrips)} | ${r.ok ? "ok" : `FAIL: ${r.error}`} | ${f(r.p50Us, 1)} | ${f(r.p99Us, 1)} | ${f(r.p999Us, 1)} |`);
process.stderr.write(out.join("\n") + "\n");
