import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BENCH_SCHEMA, type BenchResults } from "../src/bench-schema.js";
import { transports } from "../src/transports.js";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

// Proves the harness works end to end; asserts shape and ok, never speed.
describe("pnpm bench --quick", () => {
  // Made in beforeAll, not at load: a run that filters every test out (vitest -t) runs no hooks.
  let out = "";
  beforeAll(() => {
    out = mkdtempSync(path.join(tmpdir(), "ipcs-bench-"));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("runs every transport and reference, verifies every run, and writes a versioned JSON file with a markdown table", () => {
    const r = spawnSync(process.execPath, [CLI, "bench", "--quick", "--out", out], { encoding: "utf8", timeout: 280_000 });
    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith("-quick.json"));
    expect(json, r.stderr).toBeDefined();
    expect(files).toContain(json!.replace(/\.json$/, ".md"));
    const results = JSON.parse(readFileSync(path.join(out, json!), "utf8")) as BenchResults;
    expect(results.schema).toBe(BENCH_SCHEMA);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.limits.mqMsgMax).toBeGreaterThan(0);
    const failures = [...results.throughput, ...results.roundTrip].filter((row) => !row.ok).map((row) => `${row.transport}: ${row.error}`);
    expect(failures, failures.join("\n")).toEqual([]);
    for (const t of transports) {
      const rows = results.throughput.filter((row) => row.transport === t.id && row.kind === "transport");
      expect(rows.length, t.id).toBeGreaterThan(0);
      for (const row of rows.filter((x) => !x.skipped)) {
        expect(row.msgsPerSec!.median).toBeGreaterThan(0);
        expect(row.msgsPerSec!.min).toBeLessThanOrEqual(row.msgsPerSec!.max);
        // The transport-only column beside it: the same case without the scenario's per-message work.
        expect(row.transportOnly, `${t.id} ${row.size} B transport only`).toMatchObject({ ok: true });
        expect(row.transportOnly!.msgsPerSec!.median).toBeGreaterThan(0);
      }
      expect(results.roundTrip.some((row) => row.transport === t.id)).toBe(true);
    }
    expect(results.throughput.some((row) => row.kind === "reference-c")).toBe(true);
    expect(results.throughput.some((row) => row.transport === "node-ipc-json")).toBe(true);
    // The Python shared-memory ring rows: measured, or skipped with the reason (no python3).
    for (const id of ["python-shm-blocking", "python-shm-spin"]) expect(results.throughput.some((row) => row.transport === id)).toBe(true);
    // Quick mode: the pool section runs over uds only, beside the fork pool (and Python, or its skip reason).
    const pool = results.pool!.rows;
    expect(pool.map((row) => row.transport).sort()).toEqual(["node-fork-pool", "python-pool", "uds"]);
    expect(pool.filter((row) => !row.ok), JSON.stringify(pool)).toEqual([]);
    expect(pool.find((row) => row.transport === "uds")!.mapTasksPerSec).toBeGreaterThan(0);
    expect(readFileSync(path.join(out, json!.replace(/\.json$/, ".md")), "utf8")).toContain("## Process pool");
    // The shared-state section: Queue, Value and Event beside Python (or its skip reason) and the C futex.
    const shared = results.sharedState!;
    expect(shared.rows.filter((row) => !row.ok), JSON.stringify(shared)).toEqual([]);
    expect(shared.rows.find((row) => row.case.startsWith("Event"))!.ours).toBeGreaterThan(0);
    expect(readFileSync(path.join(out, json!.replace(/\.json$/, ".md")), "utf8")).toContain("## Shared state");
    expect(r.status).toBe(0);
  }, 300_000);
});
