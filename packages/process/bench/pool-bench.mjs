// Pool benchmarks, one JSON line per case on stdout. Usage:
//   node packages/process/bench/pool-bench.mjs [uds|tcp|fifo] [--quick]
// A pool of 2 workers is started before timing (start-up reported apart).
// Cases: map(square) over 1,000,000 ints with the default chunksize; map of
// 100,000 tasks with chunksize 1; apply round trip (p50 of 2,000 sequential
// calls); start → join of an empty target; and the same map cases on a plain
// child_process.fork + process.send pool, the baseline a Node user would write.
import { fork } from "node:child_process";
import { performance } from "node:perf_hooks";
import { Pool, Process } from "@ipc-sampler/process";
import { tcpTransport, udsTransport } from "@ipc-sampler/socket";
import { fifoTransport } from "@ipc-sampler/fifo";

const transports = { uds: udsTransport, tcp: tcpTransport, fifo: fifoTransport };
const id = process.argv[2] ?? "uds";
const quick = process.argv.includes("--quick");
const N = quick ? 100_000 : 1_000_000;
const T = quick ? 10_000 : 100_000;
const module = new URL("./square.mjs", import.meta.url);
const out = (o) => console.log(JSON.stringify({ transport: id, ...o }));
const xs = Array.from({ length: N }, (_, i) => i);
const ts = Array.from({ length: T }, (_, i) => i);

async function timed(f) {
  const t = performance.now();
  const r = await f();
  return [performance.now() - t, r];
}

// ---- @ipc-sampler/process ----
{
  const [startMs, pool] = await timed(() => Pool.create({ module, processes: 2, transport: transports[id] }));
  out({ case: "pool start (2 workers)", ms: startMs });
  await pool.map("square", xs.slice(0, 1000)); // warm
  const [mapMs, r1] = await timed(() => pool.map("square", xs));
  if (r1[N - 1] !== (N - 1) ** 2) throw new Error("wrong map result");
  out({ case: `map ${N} ints, default chunksize`, ms: mapMs, perSec: N / (mapMs / 1000) });
  const [m1Ms, r2] = await timed(() => pool.map("square", ts, { chunksize: 1 }));
  if (r2[T - 1] !== (T - 1) ** 2) throw new Error("wrong map result");
  out({ case: `map ${T} tasks, chunksize 1`, ms: m1Ms, perSec: T / (m1Ms / 1000) });
  const rt = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    await pool.apply("square", [i]);
    rt.push(performance.now() - t);
  }
  rt.sort((a, b) => a - b);
  out({ case: "apply round trip", p50us: rt[1000] * 1000, p99us: rt[1980] * 1000 });
  await pool.terminate();
  // Interleaved with child_process.fork of the same module, so load changes hit both alike.
  const sj = [];
  const fj = [];
  for (let i = 0; i < 7; i++) {
    const p = new Process({ module, target: "nothing", transport: transports[id] });
    const [ms] = await timed(async () => {
      await p.start();
      await p.join();
    });
    sj.push(ms);
    fj.push((await timed(() => new Promise((resolve) => fork(module.pathname, [], { stdio: "ignore" }).on("exit", resolve))))[0]);
  }
  sj.sort((a, b) => a - b);
  fj.sort((a, b) => a - b);
  out({ case: "Process start → join, empty target (median of 7)", ms: sj[3], forkMs: fj[3], ratio: sj[3] / fj[3] });
}

// ---- baseline: child_process.fork + process.send ----
if (id === "uds") {
  const workers = [0, 1].map(() => fork(module.pathname, [], { env: { ...process.env, FORK_POOL_WORKER: "1" }, serialization: "advanced" }));
  const pending = new Map();
  let next = 0;
  for (const w of workers) w.on("message", ([i, r]) => pending.get(i)(r));
  const call = (w, chunk) => new Promise((resolve) => {
    const i = next++;
    pending.set(i, (r) => (pending.delete(i), resolve(r)));
    w.send([i, chunk]);
  });
  // Same split as Python's default: 4 chunks per worker; and chunks of one.
  const forkMap = async (items, size) => {
    const jobs = [];
    for (let at = 0, k = 0; at < items.length; at += size, k++) jobs.push(call(workers[k % 2], items.slice(at, at + size)));
    return (await Promise.all(jobs)).flat();
  };
  await forkMap(xs.slice(0, 1000), 125);
  const [fMs] = await timed(() => forkMap(xs, Math.ceil(N / 8)));
  out({ case: `fork+send pool: map ${N} ints, ${Math.ceil(N / 8)} per message`, ms: fMs, perSec: N / (fMs / 1000) });
  const [f1Ms] = await timed(() => forkMap(ts, 1));
  out({ case: `fork+send pool: map ${T} tasks, 1 per message`, ms: f1Ms, perSec: T / (f1Ms / 1000) });
  for (const w of workers) w.kill();
}
