import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { TransportEntry } from "./transports.js";

/** One run of the scenario over one transport: the record `--json` prints. */
export interface RunRecord {
  transport: string;
  scenario: "stream";
  producers: number;
  messages: number;
  size: number;
  elapsedMs: number;
  msgsPerSec: number;
  mbPerSec: number;
  latencyP50Us: number;
  latencyP99Us: number;
  total: number;
  expectedTotal: number;
  received: number;
  ok: boolean;
  error?: string;
  problems?: string[];
  cpuMs: { consumer: number; producers: number };
  peakRssBytes: { consumer: number; producers: number };
  /** For inherited-descriptor transports: /proc/self/fd/N of each producer's end (pipe:[…]). */
  producerEndpoints?: string[];
}

export interface RunSettings {
  producers: number;
  messages: number;
  size: number;
  /** Hard limit for the whole run (ms). */
  timeoutMs: number;
  /** Called with the number of messages verified so far. */
  onProgress?: (received: number, expected: number) => void;
  /** Extra node flags for the consumer and producers (e.g. --cpu-prof). */
  nodeFlags?: string[];
}

const CONSUMER = fileURLToPath(new URL("./consumer.js", import.meta.url));

/** Default hard limit: generous, scaled by the work, never unbounded. */
export function defaultTimeoutMs(producers: number, messages: number, size: number): number {
  const bytes = producers * messages * size;
  return Math.round(30_000 + (producers * messages) / 20 + bytes / 50_000);
}

function failed(entry: TransportEntry, s: RunSettings, error: string): RunRecord {
  return {
    transport: entry.id,
    scenario: "stream",
    producers: s.producers,
    messages: s.messages,
    size: s.size,
    elapsedMs: 0,
    msgsPerSec: 0,
    mbPerSec: 0,
    latencyP50Us: 0,
    latencyP99Us: 0,
    total: 0,
    expectedTotal: 0,
    received: 0,
    ok: false,
    error,
    cpuMs: { consumer: 0, producers: 0 },
    peakRssBytes: { consumer: 0, producers: 0 },
  };
}

/**
 * Runs the scenario in a fresh consumer process, which starts the producer
 * processes itself (a pipe can only reach a child). Resolves with the record;
 * never rejects: a failure is a record with ok false and the reason.
 */
export function runScenario(entry: TransportEntry, settings: RunSettings): Promise<RunRecord> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(settings.nodeFlags ?? []), CONSUMER, JSON.stringify({ entry, ...settings, onProgress: undefined })], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let record: RunRecord | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 2000).unref();
      record = failed(entry, settings, `timed out after ${settings.timeoutMs} ms`);
    }, settings.timeoutMs + 5_000);
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      out += text;
      let nl: number;
      while ((nl = out.indexOf("\n")) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        try {
          const msg = JSON.parse(line) as { progress?: number; expected?: number; record?: RunRecord; fatal?: string };
          if (msg.fatal) record ??= failed(entry, settings, msg.fatal);
          if (msg.progress !== undefined) settings.onProgress?.(msg.progress, msg.expected ?? 0);
          if (msg.record) record ??= msg.record;
        } catch {
          err += line + "\n";
        }
      }
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      err += text;
      if (err.length > 20_000) err = err.slice(-20_000);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (record) return resolve(record);
      const why = err.trim().split("\n").filter(Boolean).slice(-3).join(" | ") || `consumer exited with ${signal ?? code}`;
      resolve(failed(entry, settings, why));
    });
  });
}
