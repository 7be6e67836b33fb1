/**
 * pnpm demo --scenario pool-map --transport <id|all> [--items N] [--processes P] [--chunksize C] [--json]
 *
 * The notes' Pool program at scale: a pool of P worker processes squares N
 * integers with `pool.map` over one transport, the parent checks every result
 * (sum of squares against the closed form) and prints tasks per second.
 */
import { Pool } from "@ipc-sampler/process";
import type { Transport } from "@ipc-sampler/core";
import { UsageError, formatHelp, integerOption, parseCommandLine, type OptionSpecs } from "./options.js";
import { humanRate } from "./format.js";
import { transports, type TransportEntry } from "./transports.js";

const SPECS = {
  scenario: { type: "string", value: "name", help: "pool-map" },
  transport: { type: "string", value: "id", help: "any transport but pipe, or all", default: "uds" },
  items: { type: "string", value: "N", help: "integers to square", default: "1000000" },
  processes: { type: "string", value: "P", help: "worker processes", default: "2" },
  chunksize: { type: "string", value: "C", help: "items per message", default: "Python's rule" },
  json: { type: "boolean", help: "one JSON record per transport on stdout" },
  help: { type: "boolean", help: "this text" },
} as const satisfies OptionSpecs;

/** The transports `--transport <id|all>` names for a scenario of worker processes: any but the anonymous pipe, which cannot carry a child's channel back to its parent. */
export function chooseTransports(id: string, scenario: string): TransportEntry[] {
  const eligible = transports.filter((t) => t.id !== "pipe");
  const chosen = id === "all" ? eligible : eligible.filter((t) => t.id === id);
  if (chosen.length === 0) throw new UsageError(`${scenario} runs over ${eligible.map((t) => t.id).join(", ")} or all, not "${id}"`);
  return chosen;
}

/** `demo --scenario pool-map …`: resolves with the exit code; usage errors throw UsageError. */
export async function runPoolMap(argv: readonly string[]): Promise<number> {
  const flags = parseCommandLine(argv, SPECS);
  if (flags.help) {
    process.stdout.write(formatHelp(["pnpm demo --scenario pool-map [options]"], "Squares N integers with Pool.map over a transport; checks the sum of squares.", SPECS));
    return 0;
  }
  const id = flags.transport ?? "uds";
  const items = integerOption(flags.items, "items", 1_000_000, 1, 50_000_000);
  const processes = integerOption(flags.processes, "processes", 2, 1, 64);
  const chunksize = flags.chunksize === undefined ? undefined : integerOption(flags.chunksize, "chunksize", 1, 1, 50_000_000);
  const chosen = chooseTransports(id, "pool-map");
  const xs = Array.from({ length: items }, (_, i) => i);
  // Σ i² for i < n, exactly, in BigInt.
  const n = BigInt(items - 1);
  const expected = (n * (n + 1n) * (2n * n + 1n)) / 6n;
  const rows: Array<Record<string, unknown>> = [];
  let failures = 0;
  for (const entry of chosen) {
    const transport = ((await import(entry.packageName)) as Record<string, Transport>)[entry.exportName]!;
    const record: Record<string, unknown> = { scenario: "pool-map", transport: entry.id, processes, items, chunksize: chunksize ?? "default" };
    let pool: Pool<typeof import("./pool-map-tasks.js")> | undefined;
    try {
      const t0 = performance.now();
      pool = await Pool.create({ module: new URL("./pool-map-tasks.js", import.meta.url), processes, transport });
      const t1 = performance.now();
      const out = await pool.map("square", xs, { chunksize });
      const t2 = performance.now();
      let sum = 0n;
      for (const v of out) sum += BigInt(v);
      Object.assign(record, { startMs: Math.round(t1 - t0), elapsedMs: Math.round(t2 - t1), tasksPerSec: Math.round(items / ((t2 - t1) / 1000)), total: sum.toString(), ok: sum === expected && out.length === items });
    } catch (err) {
      Object.assign(record, { ok: false, error: (err as Error).message });
    } finally {
      await pool?.terminate();
    }
    if (!record.ok) failures++;
    rows.push(record);
    if (flags.json) process.stdout.write(`${JSON.stringify(record)}\n`);
  }
  if (!flags.json) {
    for (const r of rows) {
      const result = r.ok ? "OK" : `FAILED: ${r.error ?? "wrong total"}`;
      const speed = r.tasksPerSec ? `start ${r.startMs} ms, map ${r.elapsedMs} ms, ${humanRate(Number(r.tasksPerSec))} tasks/s, sum of squares ${r.total}` : "";
      process.stdout.write(`pool-map ${r.transport}: ${processes} workers, ${items} items, chunksize ${r.chunksize}: ${speed} ${result}\n`);
    }
  }
  return failures === 0 ? 0 : 1;
}
