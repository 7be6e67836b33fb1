#!/usr/bin/env node
/**
 * pnpm bench [--quick] [--transports a,b] [--out DIR] [--no-references]
 *
 * The measured comparison: one-way throughput for every transport at several
 * message sizes with 1 and 2 producers, round-trip latency at 64 B, CPU time
 * and peak RSS, beside reference rows (C per mechanism, Node's process.send,
 * Python multiprocessing). Each case runs in fresh processes: warm-up runs,
 * then measured repetitions, reported as median, min and max.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Transport } from "@ipc-sampler/core";
import { BENCH_SCHEMA, type BenchResults, type MachineFacts, type RoundTripRow, type RowKind, type Stat, type ThroughputRow } from "./bench-schema.js";
import { UsageError, parseArgs } from "./options.js";
import { runScenario, type RunRecord } from "./run.js";
import { transports, type TransportEntry } from "./transports.js";
import { renderMarkdown } from "./bench-report.js";
import { placementPrefix, placementProblem, referencePlacement } from "./placement.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../../..");
const PINGPONG = path.join(HERE, "pingpong.js");

interface Plan {
  quick: boolean;
  sizes: number[];
  producers: number[];
  warmups: number;
  repetitions: number;
  messagesBySize: Record<number, number>;
  roundTrips: number;
  placements: Array<RoundTripRow["placement"]>;
  transports: TransportEntry[];
  references: boolean;
  out: string;
}

function makePlan(argv: string[]): Plan {
  const { flags, positionals } = parseArgs(argv, new Set(["quick", "no-references", "help"]), new Set(["transports", "out"]));
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (flags.has("help")) {
    process.stdout.write("pnpm bench [--quick] [--transports pipe,uds,...] [--out DIR] [--no-references]\n");
    process.exit(0);
  }
  const quick = flags.has("quick");
  let selected = [...transports];
  const only = flags.get("transports");
  if (typeof only === "string") {
    const ids = only.split(",").map((s) => s.trim());
    for (const id of ids) if (!transports.some((t) => t.id === id)) throw new UsageError(`unknown transport "${id}"`);
    selected = transports.filter((t) => ids.includes(t.id));
  }
  const out = typeof flags.get("out") === "string" ? path.resolve(String(flags.get("out"))) : path.join(ROOT, "bench", "results");
  return quick
    ? {
        quick,
        sizes: [64, 65536],
        producers: [1],
        warmups: 0,
        repetitions: 1,
        messagesBySize: { 64: 20_000, 1024: 10_000, 65536: 1_000, 1048576: 100 },
        roundTrips: 1_000,
        placements: ["split-cpu"],
        transports: selected,
        references: !flags.has("no-references"),
        out,
      }
    : {
        quick,
        sizes: [64, 1024, 65536, 1048576],
        producers: [1, 2],
        warmups: 1,
        repetitions: 3,
        messagesBySize: { 64: 300_000, 1024: 100_000, 65536: 5_000, 1048576: 300 },
        roundTrips: 20_000,
        placements: ["same-cpu", "split-cpu"],
        transports: selected,
        references: !flags.has("no-references"),
        out,
      };
}

function readNumber(file: string): number {
  try {
    return Number(readFileSync(file, "utf8").trim());
  } catch {
    return 0;
  }
}

function machineFacts(): MachineFacts {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    os: `${os.type()} ${os.machine()}`,
    node: process.version,
    limits: {
      pipeBufBytes: 4096,
      pipeMaxSizeBytes: readNumber("/proc/sys/fs/pipe-max-size"),
      mqMsgMax: readNumber("/proc/sys/fs/mqueue/msg_max"),
      mqMsgsizeMax: readNumber("/proc/sys/fs/mqueue/msgsize_max"),
    },
  };
}

function stat(values: number[]): Stat {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: round(median), min: round(s[0]!), max: round(s[s.length - 1]!) };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function haveTaskset(): boolean {
  return spawnSync("taskset", ["-c", "0", "true"]).status === 0;
}

/** Runs a command that prints one JSON record as its last stdout line. */
function runJson(argv: string[], timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (t: string) => (out += t));
    child.stderr.setEncoding("utf8").on("data", (t: string) => (err = (err + t).slice(-4000)));
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").filter(Boolean).pop();
      try {
        if (last) return resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        // fall through
      }
      resolve({ ok: false, error: err.trim().split("\n").pop() || `exited with ${signal ?? code}${signal === "SIGKILL" ? " (timed out)" : ""}` });
    });
  });
}

interface Measured {
  ok: boolean;
  error?: string;
  msgsPerSec: number;
  mbPerSec: number;
  latencyP50Us: number;
  latencyP99Us: number;
  cpuMs: { consumer: number; producers: number };
  peakRssBytes: { consumer: number; producers: number };
  skipped?: string;
}

function fromRecord(r: RunRecord | Record<string, unknown>): Measured {
  const x = r as Record<string, unknown>;
  return {
    ok: x.ok === true,
    ...(typeof x.error === "string" ? { error: x.error } : {}),
    ...(typeof x.skipped === "string" ? { skipped: x.skipped } : {}),
    msgsPerSec: Number(x.msgsPerSec ?? 0),
    mbPerSec: Number(x.mbPerSec ?? 0),
    latencyP50Us: Number(x.latencyP50Us ?? 0),
    latencyP99Us: Number(x.latencyP99Us ?? 0),
    cpuMs: (x.cpuMs as Measured["cpuMs"]) ?? { consumer: 0, producers: 0 },
    peakRssBytes: (x.peakRssBytes as Measured["peakRssBytes"]) ?? { consumer: 0, producers: 0 },
  };
}

async function measure(
  plan: Plan,
  base: { transport: string; kind: RowKind; mechanism: string; producers: number; size: number; messages: number },
  once: () => Promise<Measured>,
): Promise<ThroughputRow> {
  for (let i = 0; i < plan.warmups; i++) {
    const w = await once();
    if (w.skipped) return { ...base, skipped: w.skipped, ok: true, repetitions: 0 };
    if (!w.ok) return { ...base, ok: false, error: w.error ?? "failed", repetitions: 0 };
  }
  const runs: Measured[] = [];
  for (let i = 0; i < plan.repetitions; i++) {
    const m = await once();
    if (m.skipped) return { ...base, skipped: m.skipped, ok: true, repetitions: 0 };
    runs.push(m);
    if (!m.ok) break;
  }
  const ok = runs.every((r) => r.ok);
  const good = runs.filter((r) => r.ok);
  if (!good.length) return { ...base, ok: false, error: runs.find((r) => r.error)?.error ?? "failed", repetitions: runs.length };
  const byRate = [...good].sort((a, b) => a.msgsPerSec - b.msgsPerSec);
  const median = byRate[byRate.length >> 1]!;
  return {
    ...base,
    ok,
    ...(ok ? {} : { error: runs.find((r) => !r.ok)?.error ?? "failed" }),
    repetitions: good.length,
    msgsPerSec: stat(good.map((r) => r.msgsPerSec)),
    mbPerSec: stat(good.map((r) => r.mbPerSec)),
    latencyP50Us: stat(good.map((r) => r.latencyP50Us)),
    latencyP99Us: stat(good.map((r) => r.latencyP99Us)),
    cpuMs: median.cpuMs,
    peakRssBytes: median.peakRssBytes,
  };
}

interface ReferenceCommand {
  transport: string;
  kind: RowKind;
  mechanism: string;
  argv: string[];
  skip?: { reason: string };
}

interface ReferenceModule {
  buildReferences(): { ok: boolean; error?: string };
  referenceCommands(o: { mechanism: string; producers: number; messages: number; size: number; roundtrip?: number; pingerCpu?: number; pongerCpu?: number; timeoutS?: number }): ReferenceCommand[];
  runReference(cmd: ReferenceCommand, o?: { timeoutMs?: number }): Promise<Record<string, unknown>>;
}

/** Reference rows besides the C one per mechanism. */
const OTHER_REFERENCES = ["node-ipc-json", "node-ipc-advanced", "node-net-uds", "python-queue", "python-pipe"];

async function loadReferences(): Promise<ReferenceModule | undefined> {
  const file = path.join(ROOT, "bench", "reference", "index.mjs");
  if (!existsSync(file)) return undefined;
  return (await import(pathToFileURL(file).href)) as ReferenceModule;
}

function log(line: string): void {
  process.stderr.write(line + "\n");
}

async function main(): Promise<void> {
  let plan: Plan;
  try {
    plan = makePlan(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const started = Date.now();
  const machine = machineFacts();
  log(`bench: ${plan.quick ? "quick" : "full"} matrix on ${machine.cpuModel} x${machine.cores}, Linux ${machine.kernel}, Node ${machine.node}`);
  const throughput: ThroughputRow[] = [];
  const roundTrip: RoundTripRow[] = [];

  // Our transports.
  for (const entry of plan.transports) {
    let max = Infinity;
    try {
      const t = ((await import(entry.packageName)) as Record<string, Transport>)[entry.exportName];
      max = t?.descriptor.maxMessageSize ?? Infinity;
    } catch (err) {
      log(`bench: ${entry.id} cannot be loaded: ${(err as Error).message}`);
    }
    for (const producers of plan.producers) {
      for (const size of plan.sizes) {
        const messages = plan.messagesBySize[size]!;
        const base = { transport: entry.id, kind: "transport" as const, mechanism: entry.id, producers, size, messages };
        if (size > max) {
          throughput.push({ ...base, ok: true, repetitions: 0, skipped: `larger than the transport's ${max}-byte message limit` });
          continue;
        }
        const row = await measure(plan, base, async () =>
          fromRecord(await runScenario(entry, { producers, messages, size, timeoutMs: 120_000 })),
        );
        throughput.push(row);
        log(`  ${entry.id.padEnd(10)} P=${producers} ${String(size).padStart(7)} B  ${row.ok ? (row.skipped ? "skipped" : `${Math.round(row.msgsPerSec?.median ?? 0).toLocaleString("en-US")} msg/s`) : `FAILED ${row.error}`}`);
      }
    }
  }

  // Round trips.
  const pin = haveTaskset();
  const placements = pin ? plan.placements : (["unpinned"] as const);
  for (const entry of plan.transports) {
    for (const placement of placements) {
      const pre = placementPrefix(placement);
      const res = await runJson([...pre.pinger, process.execPath, PINGPONG, JSON.stringify({ entry, roundTrips: plan.roundTrips, size: 64, warmup: Math.min(1000, plan.roundTrips), pongerPrefix: pre.ponger })], 120_000);
      const error = typeof res.error === "string" ? res.error : undefined;
      const base = { transport: entry.id, kind: "transport" as const, mechanism: entry.id, size: 64, roundTrips: plan.roundTrips, placement };
      if (error && /only reaches child processes/.test(error)) {
        roundTrip.push({ ...base, ok: true, skipped: "one-way and inherited: no second channel can reach the parent" });
      } else {
        roundTrip.push({ ...base, ok: res.ok === true, ...(error ? { error } : {}), ...(res.ok ? { p50Us: Number(res.p50Us), p99Us: Number(res.p99Us), p999Us: Number(res.p999Us) } : {}) });
      }
      const last = roundTrip[roundTrip.length - 1]!;
      log(`  rtt ${entry.id.padEnd(10)} ${placement.padEnd(9)} ${last.skipped ? "skipped" : last.ok ? `p50 ${last.p50Us} us` : `FAILED ${last.error}`}`);
    }
  }

  // Reference rows.
  const refs = plan.references ? await loadReferences() : undefined;
  if (refs) {
    const built = await refs.buildReferences();
    if (!built.ok) log(`bench: C references did not build: ${built.error}`);
    const mechanisms = [...new Set(plan.transports.map((t) => t.id))];
    const seen = new Set<string>();
    for (const mechanism of [...mechanisms, ...OTHER_REFERENCES]) {
      for (const producers of plan.producers) {
        for (const size of plan.sizes) {
          const messages = plan.messagesBySize[size]!;
          for (const cmd of refs.referenceCommands({ mechanism, producers, messages, size, timeoutS: 110 })) {
            const key = `${cmd.transport}/${producers}/${size}`;
            if (seen.has(key)) continue;
            seen.add(key);
            const base = { transport: cmd.transport, kind: cmd.kind, mechanism: cmd.mechanism, producers, size, messages };
            const row = await measure(plan, base, async () => fromRecord(await refs.runReference(cmd, { timeoutMs: 120_000 })));
            throughput.push(row);
            log(`  ${cmd.transport.padEnd(18)} P=${producers} ${String(size).padStart(7)} B  ${row.skipped ? "skipped" : row.ok ? `${Math.round(row.msgsPerSec?.median ?? 0).toLocaleString("en-US")} msg/s` : `FAILED ${row.error}`}`);
          }
        }
      }
      for (const placement of placements) {
        // The C program forks its echo process, which would inherit a taskset around the parent:
        // it pins each side itself (--pinger-cpu/--ponger-cpu) and reports the CPUs each side ran on.
        const where = referencePlacement(placement);
        for (const cmd of refs.referenceCommands({ mechanism, producers: 1, messages: 0, size: 64, roundtrip: plan.roundTrips, ...where, timeoutS: 110 })) {
          if (cmd.kind !== "reference-c") continue;
          const rec = await refs.runReference(cmd, { timeoutMs: 120_000 });
          const misplaced = placementProblem(placement, rec);
          const res = misplaced ? { ...rec, ok: false, error: misplaced } : rec;
          const cpus = res.cpus as { pinger?: number[]; ponger?: number[] } | undefined;
          roundTrip.push({
            transport: cmd.transport,
            kind: cmd.kind,
            mechanism: cmd.mechanism,
            size: 64,
            roundTrips: plan.roundTrips,
            placement,
            ok: res.ok === true || typeof res.skipped === "string",
            ...(typeof res.skipped === "string" ? { skipped: res.skipped } : {}),
            ...(typeof res.error === "string" ? { error: res.error } : {}),
            ...(res.ok ? { p50Us: Number(res.p50Us), p99Us: Number(res.p99Us), p999Us: Number(res.p999Us) } : {}),
            ...(cpus?.pinger && cpus.ponger ? { cpus: { pinger: cpus.pinger, ponger: cpus.ponger } } : {}),
          });
          const last = roundTrip[roundTrip.length - 1]!;
          const ran = cpus ? ` (pinger CPU ${cpus.pinger?.join(",")}, ponger CPU ${cpus.ponger?.join(",")})` : "";
          log(`  rtt ${cmd.transport.padEnd(18)} ${placement.padEnd(9)} ${last.skipped ? "skipped" : last.ok ? `p50 ${last.p50Us} us${ran}` : `FAILED ${last.error}`}`);
        }
      }
    }
  } else if (plan.references) {
    log("bench: no reference implementations found (bench/reference/index.mjs)");
  }

  const results: BenchResults = {
    schema: BENCH_SCHEMA,
    createdAt: new Date().toISOString(),
    quick: plan.quick,
    machine,
    settings: { warmups: plan.warmups, repetitions: plan.repetitions, messagesBySize: Object.fromEntries(Object.entries(plan.messagesBySize)) },
    throughput,
    roundTrip,
  };
  mkdirSync(plan.out, { recursive: true });
  const stamp = results.createdAt.replace(/[:.]/g, "-");
  const name = `${stamp}${plan.quick ? "-quick" : ""}`;
  const json = JSON.stringify(results, null, 2) + "\n";
  writeFileSync(path.join(plan.out, `${name}.json`), json);
  writeFileSync(path.join(plan.out, `${name}.md`), renderMarkdown(results));
  if (!plan.quick) {
    writeFileSync(path.join(plan.out, "latest.json"), json);
    writeFileSync(path.join(plan.out, "latest.md"), renderMarkdown(results));
  }
  log(`bench: wrote ${path.join(plan.out, name)}.json and .md in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(renderMarkdown(results));
  const failed = throughput.filter((r) => !r.ok).length + roundTrip.filter((r) => !r.ok).length;
  process.exitCode = failed ? 1 : 0;
}

void main();
