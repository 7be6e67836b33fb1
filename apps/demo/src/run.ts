import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RoundTrip } from "./roundtrip.js";
import type { TransportEntry } from "./transports.js";

/** What latencyP50Us/latencyP99Us measure, in the words the text output, the JSON and the site use. */
export const LOADED_LATENCY = "one-way under full load (queueing included)";
/** What unloadedRoundTrip measures. */
export const UNLOADED_ROUND_TRIP = "unloaded (one message in flight)";

/** One run of the scenario over one transport: the record `--json` prints. */
export interface RunRecord {
  transport: string;
  scenario: "stream";
  /** Set for a transport-only run: one message sent M times, counted and size-checked, not verified; no latency figures. */
  transportOnly?: true;
  producers: number;
  messages: number;
  size: number;
  elapsedMs: number;
  msgsPerSec: number;
  mbPerSec: number;
  /** Send to verification, sampled over the whole run while every producer sends as fast as it can: mostly time spent queued. */
  latencyP50Us: number;
  latencyP99Us: number;
  /** LOADED_LATENCY: says in the record what the two figures above are. */
  latency: typeof LOADED_LATENCY;
  /** A short ping-pong over the same transport (the demo adds it; runScenario does not run it). */
  unloadedRoundTrip?: RoundTrip;
  total: number;
  expectedTotal: number;
  received: number;
  ok: boolean;
  /** The first cause of a failure (a producer's error leads its consequences). */
  error?: string;
  /** Every problem, causes first, then consequences (missing messages, a wrong total). */
  problems?: string[];
  /** Not run, and why (a message size over the transport's limit); ok stays true. */
  skipped?: string;
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
  /**
   * The transport alone: each producer sends one encoded message M times and
   * the consumer counts messages and checks their sizes, without the
   * scenario's per-message encode, clock and checksum.
   */
  transportOnly?: boolean;
}

const CONSUMER = fileURLToPath(new URL("./consumer.js", import.meta.url));

/** Default hard limit: generous, scaled by the work, never unbounded. */
export function defaultTimeoutMs(producers: number, messages: number, size: number): number {
  const bytes = producers * messages * size;
  return Math.round(30_000 + (producers * messages) / 20 + bytes / 50_000);
}

/** A record for a run that produced no figures: failed (`error`) or not started (`skipped`). */
export function emptyRecord(entry: TransportEntry, s: Pick<RunSettings, "producers" | "messages" | "size">, outcome: { error: string } | { skipped: string }): RunRecord {
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
    latency: LOADED_LATENCY,
    total: 0,
    expectedTotal: 0,
    received: 0,
    ok: "skipped" in outcome,
    ...outcome,
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
      record = emptyRecord(entry, settings, { error: `timed out after ${settings.timeoutMs} ms` });
    }, settings.timeoutMs + 5_000);
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      out += text;
      let nl: number;
      while ((nl = out.indexOf("\n")) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        try {
          const msg = JSON.parse(line) as { progress?: number; expected?: number; record?: RunRecord; fatal?: string };
          if (msg.fatal) record ??= emptyRecord(entry, settings, { error: msg.fatal });
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
      resolve(emptyRecord(entry, settings, { error: why }));
    });
  });
}
