// Throughput of one producer process into one consumer process over shm.
//   node bench/throughput.mjs [size=64] [count] [--copy]
// The producer writes `count` messages of `size` bytes with write()/drain()
// (batched publication); the consumer reads zero-copy batches and touches
// the first byte of each message. Prints one JSON line.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const mod = new URL("../dist/index.js", import.meta.url).href;
const { shmTransport } = await import(mod);

if (process.argv[2] === "producer") {
  const [, , , addr, sizeS, countS] = process.argv;
  const sender = await shmTransport.connect(JSON.parse(addr));
  const size = Number(sizeS), count = Number(countS);
  const msg = new Uint8Array(size).fill(7);
  for (let i = 0; i < count; i++) {
    if (!sender.write(msg)) await sender.drain();
  }
  await sender.close();
} else {
  const size = Number(process.argv[2] ?? 64);
  const count = Number(process.argv[3] ?? (size <= 1024 ? 5_000_000 : Math.max(2000, Math.floor(8e9 / size))));
  const r = await shmTransport.listen({ expectedProducers: 1, ringBytes: Number(process.env.RING ?? Math.max(4 << 20, size * 8)) });
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
  console.log(JSON.stringify({ transport: "shm", size, count: n, ok: n === count, ms: +ms.toFixed(1), msgPerSec: Math.round(n / ms * 1000), MBps: Math.round(bytes / ms / 1000), sink: sink > 0 }));
}
