// Throughput of one producer process into one consumer process over an mmap journal.
//   node bench/throughput.mjs [size=64] [count] [--copy]
// The producer writes `count` messages of `size` bytes with write()/drain()
// (batched publication); the consumer reads zero-copy batches and touches
// the first byte of each message. Prints one JSON line.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const mod = new URL("../dist/index.js", import.meta.url).href;
const { mmapTransport } = await import(mod);

if (process.argv[2] === "producer") {
  const [, , , addr, sizeS, countS] = process.argv;
  const sender = await mmapTransport.connect(JSON.parse(addr));
  const size = Number(sizeS), count = Number(countS);
  const msg = new Uint8Array(size).fill(7);
  for (let i = 0; i < count; i++) {
    if (!sender.write(msg)) await sender.drain();
  }
  await sender.close();
} else {
  const size = Number(process.argv[2] ?? 64);
  const count = Number(process.argv[3] ?? (size <= 1024 ? 5_000_000 : Math.max(2000, Math.floor(4e9 / size))));
  // DIR picks the file system (default os.tmpdir()); CHECKSUM=0 turns record checksums off.
  const r = await mmapTransport.listen({ expectedProducers: 1, segmentBytes: 64 << 20, retainSegments: 2, checksum: process.env.CHECKSUM !== "0", ...(process.env.DIR ? { directory: process.env.DIR + "/bench-" + process.pid, keep: false } : {}) });
  const child = spawn(process.execPath, [...(process.env.PROFILE ? ["--cpu-prof", "--cpu-prof-dir=" + process.env.PROFILE] : []), fileURLToPath(import.meta.url), "producer", JSON.stringify(r.address), String(size), String(count)], { stdio: "inherit" });
  const kill = setTimeout(() => child.kill("SIGKILL"), 120_000);
  let n = 0, bytes = 0, sink = 0, t0 = 0;
  for await (const b of r.batches()) {
    if (t0 === 0) t0 = performance.now();
    for (let i = 0; i < b.count; i++) { sink += b.data[b.offsets[2 * i]]; bytes += b.offsets[2 * i + 1]; }
    n += b.count;
  }
  const ms = performance.now() - t0;
  clearTimeout(kill);
  await r.close();
  console.log(JSON.stringify({ transport: "mmap", size, count: n, ok: n === count, ms: +ms.toFixed(1), msgPerSec: Math.round(n / ms * 1000), MBps: Math.round(bytes / ms / 1000), sink: sink > 0 }));
}
