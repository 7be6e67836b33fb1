/**
 * The bench's shared-state section: Queue put/get (1 → 1 and 4 → 2 processes),
 * Value increments under its lock and Event set → wait wake-up of
 * @ipc-sampler/process, beside Python's multiprocessing (Queue, Value, Event)
 * and a C futex reference for the wake-up. It runs the package's own scripts
 * (packages/process/bench: shared-state-bench.mjs, shared_state_bench.py,
 * event_ref.c), each printing one JSON line per case, so the figures here are
 * the ones those scripts report; the repository holds them, an installed CLI
 * skips the section with that reason.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { SharedStateRow, SharedStateSection } from "./bench-schema.js";

const SCRIPTS = fileURLToPath(new URL("../../../packages/process/bench/", import.meta.url));

interface Ran {
  /** One record per JSON line printed. */
  lines: Array<Record<string, unknown>>;
  /** Why nothing ran (the program is missing), or why it failed. */
  skipped?: string;
  error?: string;
}

/** Runs a program that prints JSON lines; a missing program is a skip, not a failure. */
export async function runJsonLines(command: string, args: string[], timeoutMs: number, cwd?: string): Promise<Ran> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], cwd });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | "missing">((resolve) => {
    child.on("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ENOENT" ? "missing" : -1));
    child.on("close", (c, signal) => resolve(c ?? (signal ? -1 : 0)));
  });
  clearTimeout(timer);
  if (code === "missing") return { lines: [], skipped: `${command} is not installed` };
  const lines: Array<Record<string, unknown>> = [];
  for (const line of out.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not one of its records
    }
  }
  if (code !== 0) return { lines, error: `${path.basename(command)} ${args.map((a) => path.basename(a)).join(" ")} exited ${code}: ${err.trim().split("\n").pop() ?? ""}` };
  return { lines };
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const r2 = (x: number): number => Math.round(x * 100) / 100;
/** Python's cases are ours without the codec: "queue put/get 1→1, v8 codec" → "queue put/get 1→1". */
const pythonCase = (ours: string): string => ours.replace(/, (v8|json) codec$/, "");

/** The section; `quick` runs the scripts' --quick form (and 500 C rounds instead of 2000). */
export async function runSharedStateSection(quick: boolean, log: (line: string) => void): Promise<SharedStateSection> {
  const method =
    "packages/process/bench's scripts, one run per side (ours, Python, C), each case between fresh processes it starts: Queue put/get of { id, tag } objects (msgs/s from the first get to the last), Value += 1 under its lock (ops/s), Event set → wait one-way wake-up (p50 of 2,000 rounds, 500 quick, from a CLOCK_MONOTONIC stamp just before set). Python: multiprocessing Queue, Value, Event; C: FUTEX_WAIT/FUTEX_WAKE on a shared word, run by the script beside each Event case in the same CPU placement.";
  const section: SharedStateSection = { method, rows: [] };
  if (!existsSync(path.join(SCRIPTS, "shared-state-bench.mjs"))) {
    section.skipped = "the shared-state scripts are in the repository (packages/process/bench), not in the installed CLI";
    log(`  shared state: skipped (${section.skipped})`);
    return section;
  }
  const flag = quick ? ["--quick"] : [];
  const ours = await runJsonLines(process.execPath, [path.join(SCRIPTS, "shared-state-bench.mjs"), ...flag], 600_000);
  const python = await runJsonLines("python3", [path.join(SCRIPTS, "shared_state_bench.py"), ...flag], 600_000);
  let c: Ran;
  const dir = mkdtempSync(path.join(os.tmpdir(), "ipcs-event-ref-"));
  try {
    const exe = path.join(dir, "event_ref");
    const built = await runJsonLines("cc", ["-O2", "-o", exe, path.join(SCRIPTS, "event_ref.c")], 120_000);
    c = built.skipped || built.error ? built : await runJsonLines(exe, [String(quick ? 500 : 2000)], 120_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (ours.error) section.error = ours.error;
  const pyByCase = new Map(python.lines.map((l) => [String(l.case), l]));
  const cEvent = c.lines.find((l) => /futex/.test(String(l.case)));
  for (const l of ours.lines) {
    const name = String(l.case);
    if (/putMany/.test(name)) continue; // no Python counterpart
    const py = pyByCase.get(pythonCase(name));
    const row: SharedStateRow = { case: name, ok: true };
    if (/^queue/.test(name) || /^Value/.test(name)) {
      const unit = /^queue/.test(name) ? "msgs/s" : "ops/s";
      const key = unit === "msgs/s" ? "msgsPerSec" : "opsPerSec";
      row.unit = unit;
      row.ours = num(l[key]);
      row.python = num(py?.[key]);
      if (row.ours && row.python) row.vsPython = r2(row.ours / row.python);
    } else if (/^Event/.test(name)) {
      row.unit = "p50 µs";
      row.ours = num(l.p50us);
      row.python = num(py?.p50us);
      // The script runs the C reference itself beside each case, in the same placement (cP50us).
      row.c = num(l.cP50us) ?? num(cEvent?.p50us);
      // Lower is better: how many times the reference's latency.
      if (row.ours && row.c) row.vsC = r2(row.ours / row.c);
      if (row.ours && row.python) row.vsPython = r2(row.ours / row.python);
    } else continue;
    row.ok = row.ours !== undefined;
    section.rows.push(row);
  }
  const why = (r: Ran, what: string) => r.skipped ?? (r.error ? `${what} failed: ${r.error}` : undefined);
  section.pythonSkipped = why(python, "python3");
  section.cSkipped = why(c, "the C reference");
  for (const r of section.rows) log(`  shared ${r.case.padEnd(40)} ${r.ours ?? "-"} ${r.unit ?? ""}${r.vsPython ? ` (${r.vsPython}x Python)` : ""}${r.vsC ? ` (${r.vsC}x C)` : ""}`);
  if (section.pythonSkipped) log(`  shared state: Python column empty (${section.pythonSkipped})`);
  if (section.cSkipped) log(`  shared state: C column empty (${section.cSkipped})`);
  return section;
}
