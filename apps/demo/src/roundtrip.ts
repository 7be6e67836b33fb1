/**
 * An unloaded round trip over one transport: a short ping-pong between two
 * fresh processes (pingpong.js), one message in flight at a time, so the
 * figure is what the mechanism costs per hop and wake-up, with no queue.
 * The demo prints it beside the streaming latency; the benchmark tabulates it.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { TransportEntry } from "./transports.js";

const PINGPONG = fileURLToPath(new URL("./pingpong.js", import.meta.url));

/** What a transport without a way back says instead of a figure. */
export const NO_WAY_BACK = "one-way and inherited: no second channel can reach the parent";

export type RoundTrip =
  | { ok: true; roundTrips: number; size: number; p50Us: number; p99Us: number; p999Us: number; skipped?: undefined; error?: undefined }
  | { ok: true; skipped: string; error?: undefined }
  | { ok: false; error: string; skipped?: undefined };

/** Runs a command that prints one JSON record as its last stdout line. */
export function runJson(argv: string[], timeoutMs: number): Promise<Record<string, unknown>> {
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

export interface RoundTripSettings {
  roundTrips: number;
  size: number;
  /** Untimed round trips first (default: as many as measured, at most 1000). */
  warmup?: number;
  /** Command prefixes that place each side (taskset), see placement.ts. */
  prefix?: { pinger: string[]; ponger: string[] };
  timeoutMs?: number;
}

/** Ping-pongs `roundTrips` messages of `size` bytes; never rejects. */
export async function roundTrip(entry: TransportEntry, s: RoundTripSettings): Promise<RoundTrip> {
  const job = { entry, roundTrips: s.roundTrips, size: s.size, warmup: s.warmup ?? Math.min(1000, s.roundTrips), pongerPrefix: s.prefix?.ponger ?? [] };
  const res = await runJson([...(s.prefix?.pinger ?? []), process.execPath, PINGPONG, JSON.stringify(job)], s.timeoutMs ?? 120_000);
  const error = typeof res.error === "string" ? res.error : undefined;
  if (error && /only reaches child processes/.test(error)) return { ok: true, skipped: NO_WAY_BACK };
  if (res.ok !== true) return { ok: false, error: error ?? "the ping-pong failed" };
  return { ok: true, roundTrips: s.roundTrips, size: s.size, p50Us: Number(res.p50Us), p99Us: Number(res.p99Us), p999Us: Number(res.p999Us) };
}
