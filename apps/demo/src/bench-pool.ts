/**
 * The bench's pool section: a pool of 2 workers over each transport that can
 * carry one (every one but pipe), beside Python's multiprocessing.Pool(2) and a
 * plain child_process.fork + process.send pool, with the ratios between them.
 */
import { fork, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Transport } from "@ipc-sampler/core";
import { Pool, Process } from "@ipc-sampler/process";
import type { PoolRow, PoolSection, RoundTripRow } from "./bench-schema.js";
import type { TransportEntry } from "./transports.js";

const TASKS = new URL("./pool-map-tasks.js", import.meta.url);
const PROCESSES = 2;

export interface PoolPlan {
  items: number;
  tasks: number;
  applyCalls: number;
  startJoins: number;
}

export const POOL_FULL: PoolPlan = { items: 1_000_000, tasks: 100_000, applyCalls: 2_000, startJoins: 7 };
export const POOL_QUICK: PoolPlan = { items: 100_000, tasks: 10_000, applyCalls: 500, startJoins: 3 };

const ms = (t0: number): number => performance.now() - t0;
const r2 = (x: number): number => Math.round(x * 100) / 100;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

function forkJoin(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    fork(fileURLToPath(TASKS), [], { stdio: "ignore" }).on("error", reject).on("exit", () => resolve(ms(t0)));
  });
}

async function ours(entry: TransportEntry, plan: PoolPlan): Promise<PoolRow> {
  const row: PoolRow = { transport: entry.id, kind: "transport", ok: false };
  let pool: Pool<typeof import("./pool-map-tasks.js")> | undefined;
  try {
    const transport = ((await import(entry.packageName)) as Record<string, Transport>)[entry.exportName]!;
    let t0 = performance.now();
    pool = await Pool.create({ module: TASKS, processes: PROCESSES, transport });
    row.startMs = r2(ms(t0));
    const xs = Array.from({ length: plan.items }, (_, i) => i);
    await pool.map("square", xs.slice(0, 1000));
    t0 = performance.now();
    const a = await pool.map("square", xs);
    const mapMs = ms(t0);
    if (a.length !== plan.items || a[plan.items - 1] !== (plan.items - 1) ** 2) throw new Error("map returned a wrong result");
    const ts = xs.slice(0, plan.tasks);
    t0 = performance.now();
    const b = await pool.map("square", ts, { chunksize: 1 });
    const tasksMs = ms(t0);
    if (b.length !== plan.tasks || b[plan.tasks - 1] !== (plan.tasks - 1) ** 2) throw new Error("map (chunksize 1) returned a wrong result");
    const rt: number[] = [];
    for (let i = 0; i < plan.applyCalls; i++) {
      t0 = performance.now();
      await pool.apply("square", [i]);
      rt.push(ms(t0));
    }
    rt.sort((x, y) => x - y);
    await pool.terminate();
    pool = undefined;
    // Interleaved with child_process.fork of the same module, so load changes hit both alike.
    const sj: number[] = [];
    const fj: number[] = [];
    for (let i = 0; i < plan.startJoins; i++) {
      const p = new Process({ module: TASKS, target: "nothing", transport });
      t0 = performance.now();
      await p.start();
      await p.join();
      sj.push(ms(t0));
      fj.push(await forkJoin());
    }
    Object.assign(row, {
      ok: true,
      mapIntsPerSec: Math.round(plan.items / (mapMs / 1000)),
      mapTasksPerSec: Math.round(plan.tasks / (tasksMs / 1000)),
      applyP50Us: r2(pct(rt, 0.5) * 1000),
      applyP99Us: r2(pct(rt, 0.99) * 1000),
      startJoinMs: r2(median(sj)),
      forkStartJoinMs: r2(median(fj)),
    });
  } catch (err) {
    row.error = (err as Error).message;
  } finally {
    await pool?.terminate();
  }
  return row;
}

/** The baseline a Node user would write: 2 forked workers, chunks sent with process.send. */
async function forkPool(plan: PoolPlan): Promise<PoolRow> {
  const row: PoolRow = { transport: "node-fork-pool", kind: "node-ipc", ok: false };
  const t0 = performance.now();
  const workers = Array.from({ length: PROCESSES }, () =>
    fork(fileURLToPath(TASKS), [], { env: { ...process.env, IPCS_FORK_POOL_WORKER: "1" }, serialization: "advanced", stdio: ["ignore", "ignore", "inherit", "ipc"] }),
  );
  try {
    const pending = new Map<number, (r: number[]) => void>();
    let next = 0;
    const gone = new Promise<never>((_, reject) => {
      for (const w of workers) w.on("exit", (code) => reject(new Error(`a fork pool worker exited (${code})`)));
    });
    gone.catch(() => {});
    for (const w of workers) w.on("message", (m: [number, number[]]) => pending.get(m[0])?.(m[1]));
    const call = (k: number, chunk: number[]): Promise<number[]> =>
      new Promise((resolve) => {
        const id = next++;
        pending.set(id, (r) => (pending.delete(id), resolve(r)));
        workers[k % PROCESSES]!.send([id, chunk]);
      });
    const map = async (items: number[], size: number): Promise<number[]> => {
      const jobs: Array<Promise<number[]>> = [];
      for (let at = 0, k = 0; at < items.length; at += size, k++) jobs.push(call(k, items.slice(at, at + size)));
      return (await Promise.race([Promise.all(jobs), gone])).flat();
    };
    await map([0], 1); // both started: the first answer
    await map([0, 1], 1);
    row.startMs = r2(ms(t0));
    const xs = Array.from({ length: plan.items }, (_, i) => i);
    await map(xs.slice(0, 1000), 125);
    let t = performance.now();
    // Python's default split: 4 chunks per worker.
    const a = await map(xs, Math.ceil(plan.items / (4 * PROCESSES)));
    const mapMs = ms(t);
    t = performance.now();
    const b = await map(xs.slice(0, plan.tasks), 1);
    const tasksMs = ms(t);
    if (a[plan.items - 1] !== (plan.items - 1) ** 2 || b[plan.tasks - 1] !== (plan.tasks - 1) ** 2) throw new Error("wrong result");
    Object.assign(row, { ok: true, mapIntsPerSec: Math.round(plan.items / (mapMs / 1000)), mapTasksPerSec: Math.round(plan.tasks / (tasksMs / 1000)) });
  } catch (err) {
    row.error = (err as Error).message;
  } finally {
    for (const w of workers) w.kill();
  }
  return row;
}

const PYTHON = `
import json, sys, time
from multiprocessing import Pool, Process

def square(x):
    return x * x

def nothing():
    pass

if __name__ == "__main__":
    N, T, A, S = (int(v) for v in sys.argv[1:5])
    o = {}
    t = time.perf_counter()
    with Pool(2) as pool:
        o["startMs"] = (time.perf_counter() - t) * 1000
        pool.map(square, range(1000))
        t = time.perf_counter(); r = pool.map(square, range(N)); o["mapIntsPerSec"] = N / (time.perf_counter() - t)
        assert r[-1] == (N - 1) ** 2
        t = time.perf_counter(); r = pool.map(square, range(T), chunksize=1); o["mapTasksPerSec"] = T / (time.perf_counter() - t)
        assert r[-1] == (T - 1) ** 2
        rt = []
        for i in range(A):
            t = time.perf_counter(); pool.apply(square, (i,)); rt.append((time.perf_counter() - t) * 1e6)
        rt.sort()
        o["applyP50Us"] = rt[A // 2]; o["applyP99Us"] = rt[min(A - 1, int(A * 0.99))]
    sj = []
    for i in range(S):
        t = time.perf_counter(); p = Process(target=nothing); p.start(); p.join(); sj.append((time.perf_counter() - t) * 1000)
    sj.sort()
    o["startJoinMs"] = sj[S // 2]
    print(json.dumps(o), flush=True)
`;

async function pythonPool(plan: PoolPlan): Promise<PoolRow> {
  const row: PoolRow = { transport: "python-pool", kind: "python", ok: false };
  const dir = mkdtempSync(path.join(os.tmpdir(), "ipcs-pool-py-"));
  try {
    const file = path.join(dir, "pool_bench.py");
    writeFileSync(file, PYTHON);
    const child = spawn("python3", [file, String(plan.items), String(plan.tasks), String(plan.applyCalls), String(plan.startJoins)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const result = await new Promise<number | "missing">((resolve) => {
      child.on("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ENOENT" ? "missing" : -1));
      child.on("close", (code) => resolve(code ?? -1));
    });
    clearTimeout(timer);
    if (result === "missing") return { ...row, ok: true, skipped: "python3 is not installed" };
    if (result !== 0) return { ...row, error: `python3 exited ${result}: ${err.trim().split("\n").pop() ?? ""}` };
    const o = JSON.parse(out.trim().split("\n").pop()!) as Record<string, number>;
    return {
      ...row,
      ok: true,
      startMs: r2(o.startMs!),
      mapIntsPerSec: Math.round(o.mapIntsPerSec!),
      mapTasksPerSec: Math.round(o.mapTasksPerSec!),
      applyP50Us: r2(o.applyP50Us!),
      applyP99Us: r2(o.applyP99Us!),
      startJoinMs: r2(o.startJoinMs!),
    };
  } catch (e) {
    return { ...row, error: (e as Error).message };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a && b ? r2(a / b) : undefined);

export const POOL_METHOD =
  "Pool of 2 workers started before timing (start-up reported separately); a 1,000-item warm-up map, then map(square) over the ints with the default chunksize (Python's rule: 4 chunks per worker), map of the tasks with chunksize 1, sequential apply calls (p50/p99), and start → join of a Process with an empty target (median, interleaved with child_process.fork of the same module). Ratios: rates ours/theirs (> 1 faster), times ours/theirs (< 1 faster). One run per case.";

/** Runs the pool section over `entries` (the caller leaves pipe out). */
export async function runPoolSection(entries: TransportEntry[], plan: PoolPlan, roundTrip: RoundTripRow[], references: boolean, log: (line: string) => void): Promise<PoolSection> {
  const rows: PoolRow[] = [];
  const python = references ? await pythonPool(plan) : undefined;
  const forked = references ? await forkPool(plan) : undefined;
  for (const entry of entries) {
    const row = await ours(entry, plan);
    if (row.ok) {
      const rtt = roundTrip.find((r) => r.kind === "transport" && r.transport === entry.id && r.ok && r.p50Us && (r.placement === "unpinned" || r.placement === "split-cpu"));
      const py = python?.ok && !python.skipped ? python : undefined;
      const fk = forked?.ok ? forked : undefined;
      const ratios = {
        mapIntsVsPython: ratio(row.mapIntsPerSec, py?.mapIntsPerSec),
        mapTasksVsPython: ratio(row.mapTasksPerSec, py?.mapTasksPerSec),
        mapIntsVsFork: ratio(row.mapIntsPerSec, fk?.mapIntsPerSec),
        mapTasksVsFork: ratio(row.mapTasksPerSec, fk?.mapTasksPerSec),
        applyVsRoundTrip: ratio(row.applyP50Us, rtt?.p50Us),
        startJoinVsFork: ratio(row.startJoinMs, row.forkStartJoinMs),
      };
      row.ratios = Object.fromEntries(Object.entries(ratios).filter(([, v]) => v !== undefined));
    }
    rows.push(row);
  }
  if (python) rows.push(python);
  if (forked) rows.push(forked);
  for (const r of rows) {
    log(`  pool ${r.transport.padEnd(14)} ${r.skipped ? `skipped: ${r.skipped}` : r.ok ? `map ${r.mapIntsPerSec} ints/s, chunksize 1 ${r.mapTasksPerSec} tasks/s${r.applyP50Us ? `, apply p50 ${r.applyP50Us} us` : ""}` : `FAILED ${r.error}`}`);
  }
  return { method: POOL_METHOD, processes: PROCESSES, ...plan, rows };
}
