// The measured numbers: read from the results file `pnpm bench` writes,
// never typed by hand. Until that file exists the site says so.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { BenchResults, RoundTripRow, ThroughputRow } from "@ipc-sampler/demo/registry";
import { BENCH_SCHEMA } from "@ipc-sampler/demo/registry";
import { transports } from "@ipc-sampler/demo/registry";
import { docsDir, repoDir, resultsPath } from "./paths";

export interface Point {
  size: number;
  msgsPerSec: number;
  mbPerSec: number;
}

export interface Series {
  /** Transport id, or the reference's transport name (`c-pipe`, `node-ipc`). */
  name: string;
  kind: ThroughputRow["kind"];
  mechanism: string;
  points: Point[];
  /** The transport-only figures of transport `name` (no per-message scenario work). */
  transportOnly?: true;
}

/** One transport at one message size, with its ratios to the references. */
export interface MeasuredRow {
  transport: string;
  producers: number;
  size: number;
  ok: boolean;
  skipped?: string;
  error?: string;
  msgsPerSec?: number;
  mbPerSec?: number;
  p50Us?: number;
  p99Us?: number;
  /** ours / C reference for the same mechanism, size and producers. */
  vsC?: number;
  /** ours / Node's process.send for the same size and producers. */
  vsNode?: number;
  /** ours / plain Node net over a Unix socket (node-net-uds) for the same size and producers. */
  vsNet?: number;
  /** The same case transport-only (no per-message scenario work), when the results file has it. */
  transportOnlyMsgsPerSec?: number;
  transportOnlyMbPerSec?: number;
}

export type ResultsData =
  | { status: "missing"; file: string; message: string }
  | { status: "invalid"; file: string; message: string }
  | {
      status: "ok";
      file: string;
      /** True for the test fixture: invented numbers, never measurements. */
      fixture: boolean;
      createdAt: string;
      quick: boolean;
      machine: BenchResults["machine"];
      settings: BenchResults["settings"];
      /** Every transport of the registry, in its order. */
      transportIds: string[];
      /** The producer count the charts and the summary use (the most measured one). */
      producers: number;
      /** Message size the latency and ratio summaries use. */
      summarySize: number;
      sizes: number[];
      series: Series[];
      rows: MeasuredRow[];
      roundTrip: RoundTripRow[];
    };

declare const data: ResultsData;
export { data };

function mostCommon(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0] ?? 1;
  for (const [v, c] of counts) if (c > (counts.get(best) ?? 0) || (c === counts.get(best) && v < best)) best = v;
  return best;
}

export function summarise(results: BenchResults, file: string, fixture: boolean): ResultsData {
  const ids = transports.map((t) => t.id);
  const tp = results.throughput ?? [];
  const ours = tp.filter((r) => r.kind === "transport");
  const producers = mostCommon(ours.map((r) => r.producers));
  const sizes = [...new Set(tp.filter((r) => r.producers === producers).map((r) => r.size))].sort((a, b) => a - b);
  const summarySize = sizes.includes(64) ? 64 : (sizes[0] ?? 64);
  const measured = (r: ThroughputRow) => !r.skipped && r.ok && r.msgsPerSec !== undefined;

  const find = (pred: (r: ThroughputRow) => boolean) => tp.find((r) => pred(r) && measured(r));
  const rows: MeasuredRow[] = [];
  for (const r of ours) {
    const row: MeasuredRow = { transport: r.transport, producers: r.producers, size: r.size, ok: r.ok };
    if (r.skipped) row.skipped = r.skipped;
    if (r.error) row.error = r.error;
    if (measured(r)) {
      row.msgsPerSec = r.msgsPerSec!.median;
      row.mbPerSec = r.mbPerSec?.median;
      row.p50Us = r.latencyP50Us?.median;
      row.p99Us = r.latencyP99Us?.median;
      const c = find((x) => x.kind === "reference-c" && x.mechanism === (r.mechanism || r.transport) && x.size === r.size && x.producers === r.producers);
      // process.send with its default (JSON) serialisation when the file has several variants.
      const node =
        find((x) => x.kind === "node-ipc" && /json/.test(x.transport) && x.size === r.size && x.producers === r.producers) ??
        find((x) => x.kind === "node-ipc" && x.size === r.size && x.producers === r.producers);
      const net = find((x) => x.kind === "node-net" && x.size === r.size && x.producers === r.producers);
      if (c) row.vsC = row.msgsPerSec / c.msgsPerSec!.median;
      if (node) row.vsNode = row.msgsPerSec / node.msgsPerSec!.median;
      if (net) row.vsNet = row.msgsPerSec / net.msgsPerSec!.median;
    }
    // Older results files have no transport-only figures: the column then stays empty.
    const bare = r.transportOnly;
    if (bare?.ok && bare.msgsPerSec) {
      row.transportOnlyMsgsPerSec = bare.msgsPerSec.median;
      row.transportOnlyMbPerSec = bare.mbPerSec?.median;
    }
    rows.push(row);
  }
  rows.sort((a, b) => ids.indexOf(a.transport) - ids.indexOf(b.transport) || a.producers - b.producers || a.size - b.size);

  const byName = new Map<string, Series>();
  for (const r of tp) {
    if (r.producers !== producers || !measured(r)) continue;
    let s = byName.get(r.transport);
    if (!s) byName.set(r.transport, (s = { name: r.transport, kind: r.kind, mechanism: r.mechanism, points: [] }));
    s.points.push({ size: r.size, msgsPerSec: r.msgsPerSec!.median, mbPerSec: r.mbPerSec?.median ?? (r.msgsPerSec!.median * r.size) / 1e6 });
  }
  for (const r of ours) {
    const bare = r.transportOnly;
    if (r.producers !== producers || r.skipped || !bare?.ok || !bare.msgsPerSec) continue;
    const key = `${r.transport} (transport only)`;
    let s = byName.get(key);
    if (!s) byName.set(key, (s = { name: r.transport, kind: r.kind, mechanism: r.mechanism, points: [], transportOnly: true }));
    s.points.push({ size: r.size, msgsPerSec: bare.msgsPerSec.median, mbPerSec: bare.mbPerSec?.median ?? (bare.msgsPerSec.median * r.size) / 1e6 });
  }
  const order = (s: Series) => (s.kind === "transport" ? ids.indexOf(s.name) : 100 + (s.kind === "reference-c" ? ids.indexOf(s.mechanism) : 50));
  const series = [...byName.values()].sort((a, b) => order(a) - order(b));
  for (const s of series) s.points.sort((a, b) => a.size - b.size);

  return {
    status: "ok",
    file,
    fixture,
    createdAt: results.createdAt,
    quick: results.quick,
    machine: results.machine,
    settings: results.settings,
    transportIds: ids,
    producers,
    summarySize,
    sizes,
    series,
    rows,
    roundTrip: results.roundTrip ?? [],
  };
}

export function loadResults(file = resultsPath()): ResultsData {
  const shown = path.relative(repoDir, file);
  if (!existsSync(file)) {
    return { status: "missing", file: shown, message: `No results yet: run pnpm bench to measure this machine (it writes ${shown}).` };
  }
  let parsed: BenchResults & { fixture?: boolean };
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    return { status: "invalid", file: shown, message: `${shown} is not valid JSON (${(err as Error).message}); run pnpm bench again.` };
  }
  if (parsed?.schema !== BENCH_SCHEMA) {
    return { status: "invalid", file: shown, message: `${shown} has schema ${JSON.stringify(parsed?.schema)}; this site reads ${BENCH_SCHEMA}. Run pnpm bench again.` };
  }
  const fixture = parsed.fixture === true || path.resolve(file).startsWith(path.join(docsDir, "test-fixtures"));
  return summarise(parsed, shown, fixture);
}

export default {
  watch: [resultsPath()],
  load: () => loadResults(),
};
