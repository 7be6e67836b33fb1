// Shared-state benchmarks, one JSON line per case on stdout. Usage:
//   node packages/process/bench/shared-state-bench.mjs [--quick] [--case queue,value,event] [--json]
// The output is always one JSON object per line, one per case (--json is
// accepted for callers that ask for it).
// With --case, only the cases whose ids start with one of the words run
// (ids: queue-1-1, queue-4-2, queue-1-1-json, queue-4-2-json, queue-many,
// value, event, event-handoff).
// Cases: Queue put/get of small objects, 1 producer → 1 consumer and 4 → 2
// (processes; msgs/s from the first get to the last), and 1 → 1 in runs of
// 256 with putMany/getMany; with the v8 codec (default) and with json; Value increments under
// its lock in one process and in two at once (ops/s); Event set → wait
// wake-up between two processes (one-way latency, p50/p99 of 2,000, from a
// CLOCK_MONOTONIC stamp taken just before set(); the waiter asleep 1 ms, and
// "event-handoff": set again as soon as acknowledged), split CPUs and same CPU
// when taskset is there, each beside the C futex reference (event_ref.c,
// compiled with cc into the temporary directory) in the same run.
// The Python counterparts are in shared_state_bench.py.
import { execFileSync, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { Event, isMainModule, Process, Queue, SharedArray, Value } from "@ipc-sampler/process";

const quick = process.argv.includes("--quick");
const caseAt = process.argv.indexOf("--case");
const only = caseAt > 0 ? process.argv[caseAt + 1].split(",") : undefined;
const wanted = (name) => !only || only.some((w) => name.startsWith(w));
const M = quick ? 50_000 : 400_000;
const INC = quick ? 200_000 : 2_000_000;
const ROUNDS = quick ? 500 : 2_000;
const out = (o) => console.log(JSON.stringify(o));
const item = (i) => ({ id: i, tag: "tick" });

export async function producer(q, from, count) {
  const queue = Queue.from(q);
  for (let i = from; i < from + count; i++) {
    const v = item(i);
    if (!queue.tryPut(v)) await queue.put(v);
  }
}

export async function producerBatched(q, from, count) {
  const queue = Queue.from(q);
  for (let i = from; i < from + count; i += 256) {
    const run = [];
    for (let j = i; j < Math.min(i + 256, from + count); j++) run.push(item(j));
    await queue.putMany(run);
  }
}

export async function consumer(q, count) {
  const queue = Queue.from(q);
  const o = { ok: false };
  for (let i = 0; i < count; i++) {
    queue.tryGet(o);
    if (!o.ok) await queue.get();
  }
}

export async function increments(v, n) {
  const value = Value.from(v);
  const lock = value.getLock();
  for (let i = 0; i < n; i++) {
    if (!lock.tryAcquire()) await lock.acquire();
    value.value += 1;
    lock.release();
  }
}

export async function eventEcho(a, b, stamps, rounds) {
  const [go, ack] = [Event.from(a), Event.from(b)];
  const s = SharedArray.from(stamps);
  for (let i = 0; i < rounds; i++) {
    await go.wait();
    s.raw[1 + i] = process.hrtime.bigint() - s.raw[0];
    go.clear();
    ack.set();
  }
}

async function queueCase(producers, consumers, codec = "v8") {
  const q = new Queue({ maxsize: 1024, itemBytes: 64, codec });
  const per = M / producers;
  const cs = Array.from({ length: consumers - 1 }, () => new Process({ module: import.meta.url, target: "consumer", args: [q, M / consumers] }));
  const ps = Array.from({ length: producers }, (_, k) => new Process({ module: import.meta.url, target: "producer", args: [q, k * per, per] }));
  await Promise.all(cs.map((p) => p.start()));
  const o = { ok: false };
  // The parent is a consumer too; the clock starts at its first item.
  const starting = Promise.all(ps.map((p) => p.start()));
  await q.get();
  const t = performance.now();
  for (let i = 1; i < M / consumers; i++) {
    q.tryGet(o);
    if (!o.ok) await q.get();
  }
  await Promise.all([...cs, ...ps].map((p) => p.join()));
  const ms = performance.now() - t;
  await starting;
  out({ case: `queue put/get ${producers}→${consumers}, ${codec} codec`, messages: M, ms: Math.round(ms), msgsPerSec: Math.round(M / (ms / 1000)) });
  q.close();
}

async function queueBatchedCase() {
  const q = new Queue({ maxsize: 1024, itemBytes: 64 });
  const p = new Process({ module: import.meta.url, target: "producerBatched", args: [q, 0, M] });
  const starting = p.start();
  let got = (await q.getMany(256)).length;
  const t = performance.now();
  while (got < M) got += (await q.getMany(256)).length;
  await p.join();
  const ms = performance.now() - t;
  await starting;
  out({ case: "queue putMany/getMany(256) 1→1", messages: M, ms: Math.round(ms), msgsPerSec: Math.round(M / (ms / 1000)) });
  q.close();
}

async function valueCase(procs) {
  const v = new Value("i32", 0);
  const per = INC / procs;
  let ms;
  if (procs === 1) {
    const t = performance.now();
    await increments(v, per);
    ms = performance.now() - t;
  } else {
    const ps = Array.from({ length: procs }, () => new Process({ module: import.meta.url, target: "increments", args: [v, per] }));
    await Promise.all(ps.map((p) => p.start()));
    const t = performance.now();
    await Promise.all(ps.map((p) => p.join()));
    ms = performance.now() - t; // includes the children's own exit, not their start
  }
  if (v.value !== INC) throw new Error(`lost increments: ${v.value} of ${INC}`);
  out({ case: `Value += 1 under its lock, ${procs} process${procs > 1 ? "es" : ""}`, ops: INC, ms: Math.round(ms), opsPerSec: Math.round(INC / (ms / 1000)) });
}

/** Pins every thread of a process to one CPU; false without taskset. */
function pin(pid, cpu) {
  return spawnSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" }).status === 0;
}

const PLACEMENTS = { "split-cpu": [0, 1], "same-cpu": [0, 0] };
/** Split and same CPU when taskset can pin; one unpinned run otherwise. */
const placements = () => (spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" }).status === 0 ? Object.keys(PLACEMENTS) : ["unpinned"]);

async function eventCase(placement, hot = false) {
  const cpus = PLACEMENTS[placement];
  const go = new Event();
  const ack = new Event();
  const stamps = new SharedArray("i64", 1 + ROUNDS, { lock: false });
  const p = new Process({ module: import.meta.url, target: "eventEcho", args: [go, ack, stamps, ROUNDS] });
  await p.start();
  const pinned = cpus !== undefined && pin(process.pid, cpus[0]) && pin(p.pid, cpus[1]);
  for (let i = 0; i < ROUNDS; i++) {
    if (!hot) await new Promise((r) => setTimeout(r, 1)); // let the waiter fall asleep in FUTEX_WAIT
    stamps.raw[0] = process.hrtime.bigint();
    go.set();
    await ack.wait();
    ack.clear();
  }
  await p.join();
  if (cpus) pin(process.pid, "0-1023");
  const us = Array.from(stamps.raw.subarray(1), (x) => Number(x) / 1000).sort((a, b) => a - b);
  // Case names stay unique per line; the split-CPU (or unpinned) sleep case keeps Python's name.
  const name = hot ? "Event hand-off set → wait (one way)" : "Event set → wait wake-up (one way)";
  const row = { case: pinned && placement === "same-cpu" ? `${name}, same CPU` : name, placement: pinned ? placement : "unpinned", rounds: ROUNDS, p50us: +us[us.length >> 1].toFixed(1), p99us: +us[Math.floor(us.length * 0.99)].toFixed(1) };
  const c = eventReference(pinned ? cpus : undefined, hot);
  if (c) Object.assign(row, { cP50us: c.p50us, cP99us: c.p99us, vsC: +(row.p50us / c.p50us).toFixed(2) });
  out(row);
  go.close();
  ack.close();
}

let refBinary;
/** The C futex reference's figures for the same placement, or undefined without a C compiler. */
function eventReference(cpus, hot) {
  try {
    if (refBinary === undefined) {
      refBinary = join(tmpdir(), `ipc-sampler-event-ref-${process.pid}`);
      execFileSync(process.env.CC ?? "cc", ["-O2", "-o", refBinary, fileURLToPath(new URL("event_ref.c", import.meta.url))], { stdio: "ignore" });
    }
    const text = execFileSync(refBinary, [String(ROUNDS), ...(cpus ? cpus.map(String) : hot ? ["-1", "-1"] : []), ...(hot ? ["hot"] : [])], { encoding: "utf8" });
    return JSON.parse(text);
  } catch {
    refBinary = null;
    return undefined;
  }
}

if (isMainModule(import.meta.url)) {
  if (wanted("queue-1-1")) await queueCase(1, 1);
  if (wanted("queue-4-2")) await queueCase(4, 2);
  if (wanted("queue-1-1-json")) await queueCase(1, 1, "json");
  if (wanted("queue-4-2-json")) await queueCase(4, 2, "json");
  if (wanted("queue-many")) await queueBatchedCase();
  if (wanted("value")) await valueCase(1);
  if (wanted("value")) await valueCase(2);
  if (wanted("event")) for (const placement of placements()) await eventCase(placement);
  if (wanted("event-handoff")) for (const placement of placements()) await eventCase(placement, true);
  if (refBinary) (await import("node:fs")).rmSync(refBinary, { force: true });
}
