// Shared-state benchmarks, one JSON line per case on stdout. Usage:
//   node packages/process/bench/shared-state-bench.mjs [--quick]
// Cases: Queue put/get of small objects, 1 producer → 1 consumer and 4 → 2
// (processes; msgs/s from the first get to the last), and 1 → 1 in runs of
// 256 with putMany/getMany; with the v8 codec (default) and with json; Value increments under
// its lock in one process and in two at once (ops/s); Event set → wait
// wake-up between two processes (one-way latency, p50/p99 of 2,000, from a
// CLOCK_MONOTONIC stamp taken just before set()).
// The Python counterparts are in shared_state_bench.py.
import { performance } from "node:perf_hooks";
import { Event, isMainModule, Process, Queue, SharedArray, Value } from "@ipc-sampler/process";

const quick = process.argv.includes("--quick");
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

async function eventCase() {
  const go = new Event();
  const ack = new Event();
  const stamps = new SharedArray("i64", 1 + ROUNDS, { lock: false });
  const p = new Process({ module: import.meta.url, target: "eventEcho", args: [go, ack, stamps, ROUNDS] });
  await p.start();
  for (let i = 0; i < ROUNDS; i++) {
    await new Promise((r) => setTimeout(r, 1)); // let the waiter fall asleep in FUTEX_WAIT
    stamps.raw[0] = process.hrtime.bigint();
    go.set();
    await ack.wait();
    ack.clear();
  }
  await p.join();
  const us = Array.from(stamps.raw.subarray(1), (x) => Number(x) / 1000).sort((a, b) => a - b);
  out({ case: "Event set → wait wake-up (one way)", rounds: ROUNDS, p50us: +us[us.length >> 1].toFixed(1), p99us: +us[Math.floor(us.length * 0.99)].toFixed(1) });
  go.close();
  ack.close();
}

if (isMainModule(import.meta.url)) {
  await queueCase(1, 1);
  await queueCase(4, 2);
  await queueCase(1, 1, "json");
  await queueCase(4, 2, "json");
  await queueBatchedCase();
  await valueCase(1);
  await valueCase(2);
  await eventCase();
}
