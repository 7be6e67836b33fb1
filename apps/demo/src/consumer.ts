/**
 * The consumer process of one scenario run:
 *   node consumer.js <settings-json>
 * Listens on the transport, starts the producer processes, releases them all
 * at once, verifies every message, and prints progress and one record as
 * JSON lines on stdout (the control channel, not the transport under test).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ScenarioVerifier, monotonicNs, type ChannelError, type Receiver, type ScenarioProblem, type ScenarioReport } from "@ipc-sampler/core";
import { LOADED_LATENCY, type RunRecord } from "./run.js";
import { loadTransport, type TransportEntry } from "./transports.js";

interface Settings {
  entry: TransportEntry;
  producers: number;
  messages: number;
  size: number;
  timeoutMs: number;
  nodeFlags?: string[];
  /** Count and size-check messages only: no per-message scenario work on either side. */
  transportOnly?: boolean;
}

const PRODUCER = fileURLToPath(new URL("./producer.js", import.meta.url));

function emit(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

interface ProducerStats {
  cpuMs: number;
  maxRssBytes: number;
  endpoint?: string;
}

async function main(): Promise<void> {
  const s = JSON.parse(process.argv[2]!) as Settings;
  const transport = await loadTransport(s.entry);

  const lost: ChannelError[] = [];
  const receiver: Receiver = await transport.listen({
    // The verifier reads each batch before it asks for the next: large-message memory may be reused.
    reuseBatches: true,
    ...s.entry.listenOptions,
    expectedProducers: s.producers,
    onPeerLost: (e) => lost.push(e),
  });
  const children: ChildProcess[] = [];
  // Settled when a producer's stdout has closed too, so its last words (an error) are in.
  const finished: Promise<unknown>[] = [];
  const stats: ProducerStats[] = [];
  // Causes, in the order they happened: what a producer reported, then a producer that died without a word.
  const producerErrors: string[] = [];
  const reported = new Set<number>();
  let ready = 0;
  let allReady!: () => void;
  const readyPromise = new Promise<void>((r) => (allReady = r));
  const kill = () => {
    for (const c of children) c.kill("SIGKILL");
  };
  process.on("SIGTERM", () => {
    kill();
    void receiver.close().finally(() => process.exit(143));
  });

  for (let id = 0; id < s.producers; id++) {
    const admission = await receiver.admit();
    const child = spawn(
      process.execPath,
      [...(s.nodeFlags ?? []), PRODUCER, JSON.stringify({ entry: s.entry, address: admission.address, id, messages: s.messages, size: s.size, transportOnly: s.transportOnly })],
      { stdio: ["pipe", "pipe", "inherit", ...admission.inherit] },
    );
    admission.release();
    children.push(child);
    finished.push(new Promise((r) => child.once("close", r)));
    let buf = "";
    child.stdout!.setEncoding("utf8").on("data", (t: string) => {
      buf += t;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { ready?: boolean; stats?: ProducerStats; error?: string };
        buf = buf.slice(nl + 1);
        if (msg.ready && ++ready === s.producers) allReady();
        if (msg.stats) stats.push(msg.stats);
        if (msg.error) {
          producerErrors.push(`producer ${id}: ${msg.error}`);
          reported.add(id);
        }
      }
    });
    child.on("exit", (code, signal) => {
      // A producer that reported its error exits 1 because of it: that is no second cause.
      if (code !== 0 && !reported.has(id)) producerErrors.push(`producer ${id} exited with ${signal ?? code}`);
    });
  }

  const deadline = setTimeout(() => {
    producerErrors.push(`timed out after ${s.timeoutMs} ms`);
    kill();
    void receiver.close();
  }, s.timeoutMs);

  await readyPromise;
  const verifier = new ScenarioVerifier(s.producers, s.messages, s.size);
  const expected = s.producers * s.messages;
  const counted = { messages: 0, wrongSize: 0, sink: 0 };
  const progress = setInterval(() => emit({ progress: s.transportOnly ? counted.messages : verifier.received, expected }), 250);
  const start = monotonicNs();
  for (const c of children) c.stdin!.end("go\n");
  let error: string | undefined;
  try {
    for await (const batch of receiver.batches()) {
      const { data, offsets } = batch;
      if (s.transportOnly) {
        // Each message's length checked and its first byte read (a view that is never touched proves nothing).
        for (let i = 0; i < batch.count; i++) {
          if (offsets[2 * i + 1] !== s.size) counted.wrongSize++;
          counted.sink ^= data[offsets[2 * i]!]!;
        }
        counted.messages += batch.count;
        continue;
      }
      const now = monotonicNs();
      for (let i = 0; i < batch.count; i++) verifier.verify(data, offsets[2 * i]!, offsets[2 * i + 1]!, now);
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    error = `${typeof code === "string" ? `${code}: ` : ""}${String((err as Error).message ?? err)}`;
  }
  const elapsedNs = monotonicNs() - start;
  clearInterval(progress);
  clearTimeout(deadline);
  await Promise.all(finished);
  await receiver.close();

  const report = s.transportOnly ? countReport(counted, expected, s.size) : verifier.report();
  const usage = process.resourceUsage();
  const elapsedMs = elapsedNs / 1e6;
  // The first cause leads (a producer's error, the receiver's, a lost peer), the consequences (gaps, a wrong total) follow.
  const causes = [...producerErrors, ...(error ? [error] : []), ...lost.map((e) => `${e.code}: ${e.message}`)];
  const problems = [...causes, ...report.problems.map((p) => p.detail)];
  const record: RunRecord = {
    transport: s.entry.id,
    scenario: "stream",
    ...(s.transportOnly ? { transportOnly: true as const } : {}),
    producers: s.producers,
    messages: s.messages,
    size: s.size,
    elapsedMs: round(elapsedMs),
    msgsPerSec: Math.round(report.received / (elapsedMs / 1000)),
    mbPerSec: round((report.received * s.size) / 1e6 / (elapsedMs / 1000)),
    latencyP50Us: round(report.latencyP50Us),
    latencyP99Us: round(report.latencyP99Us),
    latency: LOADED_LATENCY,
    total: report.total,
    expectedTotal: report.expectedTotal,
    received: report.received,
    ok: report.ok && problems.length === 0,
    ...(problems.length ? { error: problems[0] } : {}),
    ...(problems.length ? { problems } : {}),
    cpuMs: { consumer: round((usage.userCPUTime + usage.systemCPUTime) / 1000), producers: round(stats.reduce((a, b) => a + b.cpuMs, 0)) },
    peakRssBytes: { consumer: usage.maxRSS * 1024, producers: Math.max(0, ...stats.map((x) => x.maxRssBytes)) },
    ...(stats.some((x) => x.endpoint) ? { producerEndpoints: stats.map((x) => x.endpoint ?? "") } : {}),
  };
  emit({ record });
}

/** The report of a transport-only run: every message counted, each of the expected size. */
function countReport(c: { messages: number; wrongSize: number }, expected: number, size: number): ScenarioReport {
  const problems: ScenarioProblem[] = [];
  if (c.wrongSize) problems.push({ kind: "size", detail: `${c.wrongSize} messages were not ${size} bytes` });
  if (c.messages < expected) problems.push({ kind: "missing", detail: `${expected - c.messages} of ${expected} messages never arrived` });
  if (c.messages > expected) problems.push({ kind: "duplicate", detail: `${c.messages - expected} messages more than the ${expected} sent` });
  return { ok: problems.length === 0, received: c.messages, expected, total: 0, expectedTotal: 0, latencyP50Us: 0, latencyP99Us: 0, problems };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

main().catch((err) => {
  emit({ fatal: String((err as Error)?.message ?? err).split("\n")[0] });
  process.stderr.write(`consumer: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
});
