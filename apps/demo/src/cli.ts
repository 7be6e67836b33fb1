#!/usr/bin/env node
/**
 * pnpm demo [--transport <id>|all] [--producers P] [--messages M] [--size S] [--json]
 *           [--scenario stream|shared-counter] [--no-lock] [--clean-stale]
 */
import type { Transport } from "@ipc-sampler/core";
import { UsageError, integerOption, parseArgs } from "./options.js";
import { defaultTimeoutMs, runScenario, type RunRecord } from "./run.js";
import { formatTable, humanBytes, humanRate } from "./format.js";
import { transports, type TransportEntry } from "./transports.js";
import { runSharedCounter as sharedCounter } from "./shared-counter.js";

const HELP = `Runs one producer/consumer scenario over an IPC transport between real processes,
verifies every message and measures it.

  pnpm demo [options]

  --transport <id>   ${transports.map((t) => t.id).join(", ")}, or all (default: pipe)
  --producers <P>    producer processes (default 2)
  --messages <M>     messages per producer (default 100000; 100k, 1m work)
  --size <S>         bytes per message, header included, at least 32 (default 64; 64KiB works)
  --json             print one JSON record per transport on stdout, nothing else
  --scenario <name>  stream (default) or shared-counter (P processes add into one counter)
  --increments <N>   shared-counter: additions per process (default 100000)
  --no-lock          shared-counter: without the lock, to show lost updates
  --timeout <s>      hard limit per run in seconds (default scales with the work)
  --clean-stale      remove resources left by crashed processes, then exit
  --help             this text
`;

const BOOLEANS = new Set(["json", "no-lock", "clean-stale", "help"]);
const VALUED = new Set(["transport", "producers", "messages", "size", "scenario", "increments", "timeout"]);

interface Options {
  transport: string;
  producers: number;
  messages: number;
  size: number;
  json: boolean;
  scenario: "stream" | "shared-counter";
  increments: number;
  lock: boolean;
  timeoutMs: number | undefined;
}

function parse(argv: string[]): Options | "help" | "clean-stale" {
  const { flags, positionals } = parseArgs(argv, BOOLEANS, VALUED);
  if (flags.has("help")) return "help";
  if (flags.has("clean-stale")) return "clean-stale";
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (see --help)`);
  const transport = String(flags.get("transport") ?? "pipe");
  if (transport !== "all" && !transports.some((t) => t.id === transport)) {
    throw new UsageError(`unknown transport "${transport}"; choose one of ${transports.map((t) => t.id).join(", ")}, all`);
  }
  const scenario = String(flags.get("scenario") ?? "stream");
  if (scenario !== "stream" && scenario !== "shared-counter") throw new UsageError(`unknown scenario "${scenario}"; choose stream or shared-counter`);
  const timeout = integerOption(flags, "timeout", 0, 1, 86_400);
  return {
    transport,
    producers: integerOption(flags, "producers", 2, 1, 64),
    messages: integerOption(flags, "messages", 100_000, 1, 100_000_000),
    size: integerOption(flags, "size", 64, 32, 64 * 1024 * 1024),
    json: flags.has("json"),
    scenario,
    increments: integerOption(flags, "increments", 100_000, 1, 100_000_000),
    lock: !flags.has("no-lock"),
    timeoutMs: timeout ? timeout * 1000 : undefined,
  };
}

function progressBar(label: string): { update: (n: number, of: number) => void; done: () => void } {
  const tty = process.stderr.isTTY;
  let last = 0;
  return {
    update(n, of) {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const frac = of ? Math.min(1, n / of) : 0;
      const width = 30;
      const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
      process.stderr.write(`\r${label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}%`);
    },
    done() {
      if (tty) process.stderr.write("\r\x1b[2K");
    },
  };
}

function summary(r: RunRecord): string {
  const head = `${r.transport}: ${r.producers} producers x ${r.messages.toLocaleString("en-US")} messages x ${r.size} B`;
  if (!r.ok && r.received === 0) return `${head}\n  FAILED: ${r.error}`;
  const lines = [
    head,
    `  elapsed   ${(r.elapsedMs / 1000).toFixed(3)} s`,
    `  rate      ${humanRate(r.msgsPerSec)} msg/s, ${humanBytes(r.mbPerSec * 1e6)}/s`,
    `  latency   p50 ${r.latencyP50Us.toFixed(1)} us, p99 ${r.latencyP99Us.toFixed(1)} us (one-way)`,
    `  total     ${r.total.toLocaleString("en-US")} (expected ${r.expectedTotal.toLocaleString("en-US")})`,
    `  peak RSS  consumer ${humanBytes(r.peakRssBytes.consumer)}, producer ${humanBytes(r.peakRssBytes.producers)}`,
    r.ok ? "  OK: every message arrived once, whole, in order per producer" : `  FAILED: ${(r.problems ?? [r.error]).slice(0, 5).join("; ")}`,
  ];
  return lines.join("\n");
}

async function runStream(o: Options): Promise<number> {
  const entries: readonly TransportEntry[] = o.transport === "all" ? transports : transports.filter((t) => t.id === o.transport);
  const records: RunRecord[] = [];
  for (const [index, entry] of entries.entries()) {
    const label = entries.length > 1 ? `${entry.id.padEnd(10)} ${index + 1}/${entries.length}` : entry.id;
    const bar = o.json ? undefined : progressBar(label);
    const record = await runScenario(entry, {
      producers: o.producers,
      messages: o.messages,
      size: o.size,
      timeoutMs: o.timeoutMs ?? defaultTimeoutMs(o.producers, o.messages, o.size),
      onProgress: (n, of) => bar?.update(n, of),
    });
    bar?.done();
    records.push(record);
    if (o.json) process.stdout.write(JSON.stringify(record) + "\n");
    else if (entries.length === 1) process.stdout.write(summary(record) + "\n");
  }
  if (!o.json && entries.length > 1) {
    process.stdout.write(`${o.producers} producers x ${o.messages.toLocaleString("en-US")} messages x ${o.size} B\n`);
    process.stdout.write(formatTable(records) + "\n");
  }
  return records.every((r) => r.ok) ? 0 : 1;
}

async function runSharedCounter(o: Options): Promise<number> {
  if (o.transport !== "semaphore") throw new UsageError("the shared-counter scenario runs over --transport semaphore");
  const result = await sharedCounter({ processes: o.producers, increments: o.increments, lock: o.lock });
  const record = { scenario: "shared-counter", transport: "semaphore", processes: o.producers, increments: o.increments, lock: o.lock, ...result, ok: o.lock ? result.actual === result.expected : false };
  if (o.json) {
    process.stdout.write(JSON.stringify(record) + "\n");
  } else {
    process.stdout.write(
      `shared-counter: ${o.producers} processes x ${o.increments.toLocaleString("en-US")} increments, ${o.lock ? "with" : "without"} the lock\n` +
        `  expected ${result.expected.toLocaleString("en-US")}, actual ${result.actual.toLocaleString("en-US")}` +
        (o.lock ? (record.ok ? "  OK\n" : "  FAILED: updates were lost under the lock\n") : `  (${(result.expected - result.actual).toLocaleString("en-US")} updates lost without the lock)\n`),
    );
  }
  return o.lock && !record.ok ? 1 : 0;
}

async function cleanStale(): Promise<number> {
  let removed = 0;
  const seen = new Set<Transport>();
  for (const entry of transports) {
    let transport: Transport | undefined;
    try {
      transport = ((await import(entry.packageName)) as Record<string, Transport>)[entry.exportName];
    } catch {
      continue;
    }
    if (!transport?.removeStale || seen.has(transport)) continue;
    seen.add(transport);
    for (const name of await transport.removeStale()) {
      process.stdout.write(`removed ${entry.id}: ${name}\n`);
      removed++;
    }
  }
  process.stdout.write(`${removed} stale resource(s) removed\n`);
  return 0;
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parse>;
  try {
    options = parse(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`demo: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (options === "help") {
    process.stdout.write(HELP);
    return;
  }
  if (options === "clean-stale") {
    process.exitCode = await cleanStale();
    return;
  }
  try {
    process.exitCode = options.scenario === "shared-counter" ? await runSharedCounter(options) : await runStream(options);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`demo: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`demo: ${(err as Error).message ?? err}\n`);
    process.exitCode = 1;
  }
}

void main();
