/**
 * ipc-sampler bench [--quick] [--transports a,b] [--sizes s,t] [--producers p,q] [--out DIR] [--no-references] [--throughput-only]
 * (in the repository: pnpm bench …)
 *
 * The measured comparison: one-way throughput for every transport at several
 * message sizes with 1 and 2 producers, each case also transport-only (the
 * same messages without the scenario's per-message work), round-trip latency
 * at 64 B, CPU time and peak RSS, beside reference rows (C per mechanism,
 * Node's process.send and net, Python multiprocessing and a Python
 * shared-memory ring). Each case runs in fresh processes: warm-up runs,
 * then measured repetitions, reported as median, min and max. The pool
 * section times a pool of 2 workers over every transport but pipe (quick: uds
 * only, smaller sizes) beside Python's Pool(2) and a fork + process.send pool.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BENCH_SCHEMA, type BenchResults, type MachineFacts, type RoundTripRow, type RowKind, type Stat, type ThroughputRow } from "./bench-schema.js";
import { UsageError, formatHelp, integerOption, parseCommandLine } from "./options.js";
import { runScenario, type RunRecord } from "./run.js";
import { transports, type TransportEntry } from "./transports.js";
import { renderMarkdown } from "./bench-report.js";
import { placementPrefix, placementProblem, referencePlacement } from "./placement.js";
import { loadDescriptors, sizeRefusal } from "./limits.js";
import { roundTrip as pingPong } from "./roundtrip.js";
import { POOL_FULL, POOL_QUICK, runPoolSection } from "./bench-pool.js";
import { runSharedStateSection } from "./bench-shared-state.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The repository around this build, when it runs from one (apps/demo/dist -> the root). */
const REPO = ((root: string) => (existsSync(path.join(root, "pnpm-workspace.yaml")) && existsSync(path.join(root, "bench")) ? root : undefined))(path.resolve(HERE, "../../.."));
/** Default --out: bench/results in the repository, else a folder in the working directory. */
const DEFAULT_OUT = REPO ? path.join(REPO, "bench", "results") : path.resolve("ipc-sampler-bench");

const OPTIONS = {
  quick: { type: "boolean", help: "a small matrix (64 B and 64 KiB, 1 producer, one repetition) in a few minutes" },
  transports: { type: "string", value: "a,b", help: `only these transports: ${transports.map((t) => t.id).join(", ")}`, default: "all" },
  sizes: { type: "string", value: "s,t", help: "only these message sizes (64, 1KiB, 64KiB, 1MiB; others get a message count for about the same bytes)", default: "the matrix's" },
  producers: { type: "string", value: "p,q", help: "only these producer counts", default: "the matrix's" },
  "throughput-only": { type: "boolean", help: "the throughput matrix only: no round trips, no pool section" },
  out: { type: "string", value: "dir", help: "where the JSON results and the markdown table go", default: REPO ? "bench/results" : "./ipc-sampler-bench" },
  "no-references": { type: "boolean", help: "without the reference rows (C, Node process.send, Python multiprocessing)" },
  help: { type: "boolean", help: "this text" },
} as const;

export const BENCH_HELP = formatHelp(
  ["ipc-sampler bench [options]        (in the repository: pnpm bench [options])"],
  "Measures every transport at several message sizes and producer counts, round trips, and reference\nimplementations beside them; writes JSON and a markdown table.",
  OPTIONS,
);

interface Plan {
  quick: boolean;
  sizes: number[];
  producers: number[];
  warmups: number;
  repetitions: number;
  messagesBySize: Record<number, number>;
  roundTrips: number;
  /** Only the throughput matrix (no round trips, no pool section). */
  throughputOnly: boolean;
  /** A subset of the matrix: its results do not replace latest.json. */
  partial?: boolean;
  placements: Array<RoundTripRow["placement"]>;
  transports: TransportEntry[];
  references: boolean;
  out: string;
}

function makePlan(argv: string[]): Plan | "help" {
  const flags = parseCommandLine(argv, OPTIONS);
  if (flags.help) return "help";
  const quick = flags.quick === true;
  let selected = [...transports];
  if (flags.transports !== undefined && flags.transports !== "all") {
    const ids = flags.transports.split(",").map((s) => s.trim());
    for (const id of ids) if (!transports.some((t) => t.id === id)) throw new UsageError(`unknown transport "${id}"; choose from ${transports.map((t) => t.id).join(", ")}`);
    selected = transports.filter((t) => ids.includes(t.id));
  }
  const out = flags.out !== undefined ? path.resolve(flags.out) : DEFAULT_OUT;
  const references = flags["no-references"] !== true;
  const plan: Plan = quick
    ? {
        quick,
        sizes: [64, 65536],
        producers: [1],
        warmups: 0,
        repetitions: 1,
        messagesBySize: { 64: 20_000, 1024: 10_000, 65536: 1_000, 1048576: 100 },
        roundTrips: 1_000,
        throughputOnly: false,
        placements: ["split-cpu"],
        transports: selected,
        references,
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
        throughputOnly: false,
        placements: ["same-cpu", "split-cpu"],
        transports: selected,
        references,
        out,
      };
  plan.throughputOnly = flags["throughput-only"] === true;
  plan.partial = plan.throughputOnly || flags.sizes !== undefined || flags.producers !== undefined || (flags.transports !== undefined && flags.transports !== "all");
  if (flags.sizes !== undefined) {
    plan.sizes = listOption(flags.sizes, "sizes", 32, 64 * 1024 * 1024);
    // A size outside the matrix moves about as many bytes as its neighbour below.
    for (const size of plan.sizes) {
      if (plan.messagesBySize[size] !== undefined) continue;
      const below = Object.keys(plan.messagesBySize).map(Number).filter((k) => k <= size).sort((a, b) => b - a)[0] ?? 64;
      plan.messagesBySize[size] = Math.max(20, Math.round((plan.messagesBySize[below]! * below) / size));
    }
  }
  if (flags.producers !== undefined) plan.producers = listOption(flags.producers, "producers", 1, 64);
  return plan;
}

function listOption(raw: string, name: string, min: number, max: number): number[] {
  const values = raw.split(",").map((v) => integerOption(v, name, 0, min, max));
  return [...new Set(values)];
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

/**
 * A measured run should last at least this long: a row whose warm-up moved
 * its messages faster runs more of them (at most RUN_SCALE_MAX times), so a
 * mechanism that moves GB/s is not measured over the tens of milliseconds in
 * which its process compiles its hot loop and first touches its buffers.
 * (0.4 s was too short: a FIFO's 64 KiB case takes ~0.4 s to reach its
 * steady rate, 0.3 GB/s in its first 250 ms and 2.9 GB/s by its fourth.)
 */
const MIN_RUN_MS = 1000;
const RUN_SCALE_MAX = 20;

/** Messages for the measured runs, from what the warm-up took for `messages`. */
function runLength(messages: number, warm: Measured): number {
  if (!(warm.msgsPerSec > 0)) return messages;
  const ms = (messages / warm.msgsPerSec) * 1000;
  if (ms >= MIN_RUN_MS) return messages;
  return Math.min(messages * RUN_SCALE_MAX, Math.ceil((messages * MIN_RUN_MS) / Math.max(ms, 1e-3)));
}

async function measure(
  plan: Plan,
  base: { transport: string; kind: RowKind; mechanism: string; producers: number; size: number; messages: number },
  once: (messages: number) => Promise<Measured>,
): Promise<ThroughputRow> {
  let messages = base.messages;
  for (let i = 0; i < plan.warmups; i++) {
    const w = await once(messages);
    if (w.skipped) return { ...base, skipped: w.skipped, ok: true, repetitions: 0 };
    if (!w.ok) return { ...base, ok: false, error: w.error ?? "failed", repetitions: 0 };
    if (i === plan.warmups - 1) messages = runLength(base.messages, w);
  }
  base = { ...base, messages };
  const runs: Measured[] = [];
  for (let i = 0; i < plan.repetitions; i++) {
    const m = await once(messages);
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
const OTHER_REFERENCES = ["node-ipc-json", "node-ipc-advanced", "node-net-uds", "python-queue", "python-pipe", "python-shm-blocking", "python-shm-spin"];

/**
 * The reference implementations: the repository's bench/reference, or the
 * copy the build puts beside this file (dist/reference) for an installed CLI.
 */
async function loadReferences(): Promise<ReferenceModule | undefined> {
  for (const dir of [...(REPO ? [path.join(REPO, "bench", "reference")] : []), path.join(HERE, "reference")]) {
    const file = path.join(dir, "index.mjs");
    if (existsSync(file)) return (await import(pathToFileURL(file).href)) as ReferenceModule;
  }
  return undefined;
}

function log(line: string): void {
  process.stderr.write(line + "\n");
}

/** `ipc-sampler bench …`: resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const plan = makePlan(argv);
  if (plan === "help") {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  const started = Date.now();
  const machine = machineFacts();
  log(`bench: ${plan.quick ? "quick" : "full"} matrix on ${machine.cpuModel} x${machine.cores}, Linux ${machine.kernel}, Node ${machine.node}`);
  const throughput: ThroughputRow[] = [];
  const roundTrip: RoundTripRow[] = [];

  // Our transports; a size over a transport's limit is a skipped case, with the demo's reason.
  const descriptors = await loadDescriptors(plan.transports);
  for (const entry of plan.transports) {
    if (!descriptors.has(entry.id)) log(`bench: ${entry.id} cannot be loaded here; its runs will say why`);
    for (const producers of plan.producers) {
      for (const size of plan.sizes) {
        const messages = plan.messagesBySize[size]!;
        const base = { transport: entry.id, kind: "transport" as const, mechanism: entry.id, producers, size, messages };
        const refusal = sizeRefusal(entry, size, descriptors);
        if (refusal) {
          throughput.push({ ...base, ok: true, repetitions: 0, skipped: refusal.short });
          continue;
        }
        const row = await measure(plan, base, async (n) =>
          fromRecord(await runScenario(entry, { producers, messages: n, size, timeoutMs: 120_000 })),
        );
        // Small messages: ten times as many, so the figure is not the process's first milliseconds (JIT, first page faults).
        const bareMessages = size <= 1024 ? messages * 10 : messages;
        const bare = await measure(plan, { ...base, messages: bareMessages }, async (n) =>
          fromRecord(await runScenario(entry, { producers, messages: n, size, timeoutMs: 120_000, transportOnly: true })),
        );
        row.transportOnly = {
          messages: bare.messages,
          ok: bare.ok,
          ...(bare.error !== undefined ? { error: bare.error } : {}),
          repetitions: bare.repetitions,
          ...(bare.msgsPerSec ? { msgsPerSec: bare.msgsPerSec, mbPerSec: bare.mbPerSec!, cpuMs: bare.cpuMs! } : {}),
        };
        throughput.push(row);
        const rate = (r: ThroughputRow) => (r.ok ? `${Math.round(r.msgsPerSec?.median ?? 0).toLocaleString("en-US")} msg/s` : `FAILED ${r.error}`);
        log(`  ${entry.id.padEnd(10)} P=${producers} ${String(size).padStart(7)} B  ${row.skipped ? "skipped" : `${rate(row)} (transport only: ${rate(bare)})`}`);
      }
    }
  }

  // Round trips.
  const pin = haveTaskset();
  const placements = plan.throughputOnly ? [] : pin ? plan.placements : (["unpinned"] as const);
  for (const entry of plan.transports) {
    for (const placement of placements) {
      const rt = await pingPong(entry, { roundTrips: plan.roundTrips, size: 64, prefix: placementPrefix(placement) });
      const base = { transport: entry.id, kind: "transport" as const, mechanism: entry.id, size: 64, roundTrips: plan.roundTrips, placement };
      if (rt.skipped !== undefined) roundTrip.push({ ...base, ok: true, skipped: rt.skipped });
      else if (!rt.ok) roundTrip.push({ ...base, ok: false, error: rt.error });
      else roundTrip.push({ ...base, ok: true, p50Us: rt.p50Us, p99Us: rt.p99Us, p999Us: rt.p999Us });
      const last = roundTrip[roundTrip.length - 1]!;
      log(`  rtt ${entry.id.padEnd(10)} ${placement.padEnd(9)} ${last.skipped ? "skipped" : last.ok ? `p50 ${last.p50Us} us` : `FAILED ${last.error}`}`);
    }
  }

  // Reference rows.
  const refs = plan.references ? await loadReferences() : undefined;
  if (refs) {
    const built = await refs.buildReferences();
    // Without a C compiler the C rows are skipped with the build's reason, as a missing python3 skips the Python rows.
    if (!built.ok) log(`bench: C references did not build, their rows are skipped: ${built.error}`);
    const run = (cmd: ReferenceCommand): Promise<Record<string, unknown>> =>
      cmd.kind === "reference-c" && !built.ok ? Promise.resolve({ skipped: built.error ?? "the C references did not build" }) : refs.runReference(cmd, { timeoutMs: 120_000 });
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
            // The same reference with another message count, for the runs the warm-up sized.
            const sized = (n: number) => (n === messages ? cmd : refs.referenceCommands({ mechanism, producers, messages: n, size, timeoutS: 110 }).find((c) => c.transport === cmd.transport) ?? cmd);
            const row = await measure(plan, base, async (n) => fromRecord(await run(sized(n))));
            throughput.push(row);
            log(`  ${cmd.transport.padEnd(18)} P=${producers} ${String(size).padStart(7)} B  ${row.skipped ? "skipped" : row.ok ? `${Math.round(row.msgsPerSec?.median ?? 0).toLocaleString("en-US")} msg/s` : `FAILED ${row.error}`}`);
          }
        }
      }
      for (const placement of placements) {
        // The C program forks its echo process, which would inherit a taskset around the parent: it pins
        // each side itself (--pinger-cpu/--ponger-cpu) and reports the CPUs each side ran on; so does plain Node net.
        const where = referencePlacement(placement);
        for (const cmd of refs.referenceCommands({ mechanism, producers: 1, messages: 0, size: 64, roundtrip: plan.roundTrips, ...where, timeoutS: 110 })) {
          if (cmd.kind !== "reference-c" && cmd.kind !== "node-net") continue;
          const rec = await run(cmd);
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
    log(`bench: no reference rows: neither ${REPO ? path.join(REPO, "bench", "reference") : "the repository's bench/reference"} nor ${path.join(HERE, "reference")} holds index.mjs`);
  }

  // Process pools: every transport that can carry one (the anonymous pipe cannot); quick: uds only.
  const poolEntries = plan.throughputOnly ? [] : plan.transports.filter((t) => (plan.quick ? t.id === "uds" : t.id !== "pipe"));
  const pool = poolEntries.length ? await runPoolSection(poolEntries, plan.quick ? POOL_QUICK : POOL_FULL, roundTrip, plan.references, log) : undefined;
  // Queue, Value, Event of @ipc-sampler/process against Python and C (with the references only).
  const sharedState = plan.references ? await runSharedStateSection(plan.quick, log) : undefined;

  const results: BenchResults = {
    schema: BENCH_SCHEMA,
    createdAt: new Date().toISOString(),
    quick: plan.quick,
    machine,
    settings: { warmups: plan.warmups, repetitions: plan.repetitions, messagesBySize: Object.fromEntries(Object.entries(plan.messagesBySize)) },
    throughput,
    roundTrip,
    ...(pool ? { pool } : {}),
    ...(sharedState ? { sharedState } : {}),
  };
  mkdirSync(plan.out, { recursive: true });
  const stamp = results.createdAt.replace(/[:.]/g, "-");
  const name = `${stamp}${plan.quick ? "-quick" : ""}`;
  const json = JSON.stringify(results, null, 2) + "\n";
  writeFileSync(path.join(plan.out, `${name}.json`), json);
  writeFileSync(path.join(plan.out, `${name}.md`), renderMarkdown(results));
  if (!plan.quick && !plan.partial) {
    writeFileSync(path.join(plan.out, "latest.json"), json);
    writeFileSync(path.join(plan.out, "latest.md"), renderMarkdown(results));
  }
  log(`bench: wrote ${path.join(plan.out, name)}.json and .md in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(renderMarkdown(results));
  const failed = throughput.filter((r) => !r.ok).length + roundTrip.filter((r) => !r.ok).length + (pool?.rows.filter((r) => !r.ok).length ?? 0) + (sharedState?.error ? 1 : 0);
  return failed ? 1 : 0;
}
