/**
 * ipc-sampler [demo] [--transport <id>|all] [--producers P] [--messages M] [--size S] [--json] …
 * (in the repository: pnpm demo …)
 *
 * One producer/consumer scenario over a transport between real processes,
 * verified and measured. Impossible runs are refused before any process
 * starts; a failure leads with its first cause; the loaded latency is printed
 * beside an unloaded round trip so the two are never confused.
 */
import type { MechanismDescriptor } from "@ipc-sampler/core";
import { UsageError, formatHelp, integerOption, parseCommandLine } from "./options.js";
import { defaultTimeoutMs, emptyRecord, runScenario, type RunRecord } from "./run.js";
import { formatSummary, formatTable, sizeLabel, tableLegend, whatLimits } from "./format.js";
import { transports, withMaxMessageSize, type TransportEntry } from "./transports.js";
import { loadDescriptors, sizeRefusal } from "./limits.js";
import { roundTrip } from "./roundtrip.js";
import { runSharedCounter as sharedCounter } from "./shared-counter.js";

const MAX_SIZE = 64 * 1024 * 1024;

const OPTIONS = {
  transport: { type: "string", value: "id", help: `${transports.map((t) => t.id).join(", ")}, or all`, default: "pipe" },
  producers: { type: "string", value: "P", help: "producer processes, 1 to 64", default: "2" },
  messages: { type: "string", value: "M", help: "messages per producer (100k, 1m work)", default: "100000" },
  size: { type: "string", value: "S", help: "bytes per message, header included, at least 32 (64KiB, 1MiB work)", default: "64" },
  "max-message-size": { type: "string", value: "B", help: "largest message the receiver accepts (its listen option maxMessageSize)", default: "the transport's own limit" },
  "round-trips": { type: "string", value: "N", help: "unloaded ping-pongs timed after the run, 0 for none", default: "1000, fewer for large sizes" },
  json: { type: "boolean", help: "print one JSON record per transport on stdout, nothing else" },
  scenario: { type: "string", value: "name", help: "stream, shared-counter (P processes add into one counter), pool-map (a Pool squares N integers; --scenario pool-map --help), or queue-sum (two workers put subtotals on one channel; --scenario queue-sum --help)", default: "stream" },
  increments: { type: "string", value: "N", help: "shared-counter: additions per process", default: "100000" },
  "no-lock": { type: "boolean", help: "shared-counter: without the lock, to show lost updates" },
  timeout: { type: "string", value: "s", help: "hard limit per run in seconds", default: "scales with the work" },
  "clean-stale": { type: "boolean", help: "the same as `ipc-sampler clean`: remove what crashed processes left, then exit" },
  help: { type: "boolean", help: "this text" },
} as const;

export function demoHelp(commands: string): string {
  return formatHelp(
    ["ipc-sampler [demo] [options]        (in the repository: pnpm demo [options])", "ipc-sampler <command> --help"],
    "Runs one producer/consumer scenario over an IPC transport between real processes,\nverifies every message and measures it.",
    OPTIONS,
    commands,
  );
}

interface Options {
  transport: string;
  producers: number;
  messages: number;
  size: number;
  maxMessageSize: number | undefined;
  roundTrips: number | undefined;
  json: boolean;
  scenario: "stream" | "shared-counter";
  increments: number;
  lock: boolean;
  timeoutMs: number | undefined;
}

export function parseDemo(argv: readonly string[]): Options | "help" | "clean-stale" {
  const flags = parseCommandLine(argv, OPTIONS);
  if (flags.help) return "help";
  if (flags["clean-stale"]) return "clean-stale";
  const transport = flags.transport ?? "pipe";
  if (transport !== "all" && !transports.some((t) => t.id === transport)) {
    throw new UsageError(`unknown transport "${transport}"; choose one of ${transports.map((t) => t.id).join(", ")}, all`);
  }
  const scenario = flags.scenario ?? "stream";
  if (scenario !== "stream" && scenario !== "shared-counter") throw new UsageError(`unknown scenario "${scenario}"; choose stream or shared-counter`);
  const timeout = integerOption(flags.timeout, "timeout", 0, 1, 86_400);
  const size = integerOption(flags.size, "size", 64, 32, MAX_SIZE);
  const maxMessageSize = flags["max-message-size"] === undefined ? undefined : integerOption(flags["max-message-size"], "max-message-size", 0, 32, 2 ** 31 - 1);
  if (maxMessageSize !== undefined && size > maxMessageSize) {
    throw new UsageError(`--size ${size} is over --max-message-size ${maxMessageSize}; raise --max-message-size to at least ${size}`);
  }
  return {
    transport,
    producers: integerOption(flags.producers, "producers", 2, 1, 64),
    messages: integerOption(flags.messages, "messages", 100_000, 1, 100_000_000),
    size,
    maxMessageSize,
    roundTrips: flags["round-trips"] === undefined ? undefined : integerOption(flags["round-trips"], "round-trips", 0, 0, 1_000_000),
    json: flags.json === true,
    scenario,
    increments: integerOption(flags.increments, "increments", 100_000, 1, 100_000_000),
    lock: flags["no-lock"] !== true,
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

/** Ping-pongs after the run: enough to be steady, bounded in bytes for large messages. */
function roundTripsFor(o: Options): number {
  return o.roundTrips ?? Math.max(20, Math.min(1000, Math.floor((64 * 1024 * 1024) / o.size)));
}

async function runOne(entry: TransportEntry, o: Options, label: string): Promise<RunRecord> {
  const bar = o.json ? undefined : progressBar(label);
  const record = await runScenario(entry, {
    producers: o.producers,
    messages: o.messages,
    size: o.size,
    timeoutMs: o.timeoutMs ?? defaultTimeoutMs(o.producers, o.messages, o.size),
    onProgress: (n, of) => bar?.update(n, of),
  });
  bar?.done();
  const trips = roundTripsFor(o);
  if (record.ok && trips > 0) record.unloadedRoundTrip = await roundTrip(entry, { roundTrips: trips, size: o.size });
  return record;
}

async function runStream(o: Options): Promise<number> {
  const selected: readonly TransportEntry[] = o.transport === "all" ? transports : transports.filter((t) => t.id === o.transport);
  const descriptors: Map<string, MechanismDescriptor> = await loadDescriptors();
  // Refused before any process starts: one transport is a usage error, `all` skips the row.
  if (selected.length === 1) {
    const refusal = sizeRefusal(selected[0]!, o.size, descriptors, o.maxMessageSize);
    if (refusal) throw new UsageError(refusal.line);
  }
  const records: RunRecord[] = [];
  for (const [index, listed] of selected.entries()) {
    const entry = withMaxMessageSize(listed, o.maxMessageSize);
    const refusal = sizeRefusal(listed, o.size, descriptors, o.maxMessageSize);
    const record = refusal
      ? emptyRecord(entry, o, { skipped: refusal.short })
      : await runOne(entry, o, selected.length > 1 ? `${entry.id.padEnd(10)} ${index + 1}/${selected.length}` : entry.id);
    records.push(record);
    if (o.json) process.stdout.write(JSON.stringify(record) + "\n");
    else if (selected.length === 1) process.stdout.write(formatSummary(record) + "\n");
  }
  if (!o.json && selected.length > 1) {
    process.stdout.write(`${o.producers} producers x ${o.messages.toLocaleString("en-US")} messages x ${sizeLabel(o.size)}\n`);
    process.stdout.write(`${tableLegend(records)}\n${formatTable(records)}\n${whatLimits(records, o.size, descriptors)}\n`);
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

/** `ipc-sampler demo …`: resolves with the exit code; usage errors throw UsageError. */
export async function main(argv: string[], commands = ""): Promise<number> {
  if (argv.includes("pool-map") || argv.includes("--scenario=pool-map")) return (await import("./pool-map.js")).runPoolMap(argv);
  if (argv.includes("queue-sum") || argv.includes("--scenario=queue-sum")) return (await import("./queue-sum.js")).runQueueSum(argv);
  const options = parseDemo(argv);
  if (options === "help") {
    process.stdout.write(demoHelp(commands));
    return 0;
  }
  if (options === "clean-stale") return (await import("./clean.js")).runClean([]);
  return options.scenario === "shared-counter" ? runSharedCounter(options) : runStream(options);
}
