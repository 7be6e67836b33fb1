// Round trip of a 64-byte message between two processes over two shm rings.
//   node bench/pingpong.mjs [rounds=20000]
// Pin the two processes to different CPUs with taskset to measure across CPUs.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const { shmTransport } = await import(new URL("../dist/index.js", import.meta.url).href);
const msg = new Uint8Array(64);

if (process.argv[2] === "echo") {
  const back = await shmTransport.connect(JSON.parse(process.argv[3]));
  const r = await shmTransport.listen({ expectedProducers: 1 });
  process.stdout.write(JSON.stringify(r.address) + "\n");
  for await (const b of r.batches()) {
    for (let i = 0; i < b.count; i++) back.write(msg);
    back.flush();
  }
  await back.close();
  await r.close();
} else {
  const rounds = Number(process.argv[2] ?? 20000);
  const r = await shmTransport.listen({ expectedProducers: 1 });
  const cpu = process.env.ECHO_CPU;
  const args = [fileURLToPath(import.meta.url), "echo", JSON.stringify(r.address)];
  const child = cpu ? spawn("taskset", ["-c", cpu, process.execPath, ...args], { stdio: ["ignore", "pipe", "inherit"] }) : spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const kill = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const line = await new Promise((res) => child.stdout.once("data", (d) => res(String(d))));
  const out = await shmTransport.connect(JSON.parse(line));
  const it = r.batches();
  const rtt = new Float64Array(rounds);
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    out.write(msg);
    out.flush();
    await it.next();
    rtt[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  await out.close();
  const s = rtt.slice(Math.floor(rounds / 10)).sort();
  console.log(JSON.stringify({ transport: "shm", rounds, p50Us: +s[Math.floor(s.length * 0.5)].toFixed(1), p99Us: +s[Math.floor(s.length * 0.99)].toFixed(1) }));
  clearTimeout(kill);
  for await (const _ of it) { /* until the echo closes */ }
  await r.close();
}
