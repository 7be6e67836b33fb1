/**
 * The consumer process of one scenario run:
 *   node consumer.js <settings-json>
 * Listens on the transport, starts the producer processes, releases them all
 * at once, verifies every message, and prints progress and one record as
 * JSON lines on stdout (the control channel, not the transport under test).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ScenarioVerifier, monotonicNs, type ChannelError, type Receiver, type Transport } from "@ipc-sampler/core";
import type { RunRecord } from "./run.js";
import type { TransportEntry } from "./transports.js";

interface Settings {
  entry: TransportEntry;
  producers: number;
  messages: number;
  size: number;
  timeoutMs: number;
  nodeFlags?: string[];
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
  const mod = (await import(s.entry.packageName)) as Record<string, Transport>;
  const transport = mod[s.entry.exportName];
  if (!transport) throw new Error(`${s.entry.packageName} does not export ${s.entry.exportName}`);

  const lost: ChannelError[] = [];
  const receiver: Receiver = await transport.listen({
    ...s.entry.listenOptions,
    expectedProducers: s.producers,
    onPeerLost: (e) => lost.push(e),
  });
  const children: ChildProcess[] = [];
  const stats: ProducerStats[] = [];
  const producerErrors: string[] = [];
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
      [...(s.nodeFlags ?? []), PRODUCER, JSON.stringify({ entry: s.entry, address: admission.address, id, messages: s.messages, size: s.size })],
      { stdio: ["pipe", "pipe", "inherit", ...admission.inherit] },
    );
    admission.release();
    children.push(child);
    let buf = "";
    child.stdout!.setEncoding("utf8").on("data", (t: string) => {
      buf += t;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { ready?: boolean; stats?: ProducerStats; error?: string };
        buf = buf.slice(nl + 1);
        if (msg.ready && ++ready === s.producers) allReady();
        if (msg.stats) stats.push(msg.stats);
        if (msg.error) producerErrors.push(`producer ${id}: ${msg.error}`);
      }
    });
    child.on("exit", (code, signal) => {
      if (code !== 0) producerErrors.push(`producer ${id} exited with ${signal ?? code}`);
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
  const progress = setInterval(() => emit({ progress: verifier.received, expected }), 250);
  const start = monotonicNs();
  for (const c of children) c.stdin!.end("go\n");
  let error: string | undefined;
  try {
    for await (const batch of receiver.batches()) {
      const now = monotonicNs();
      const { data, offsets } = batch;
      for (let i = 0; i < batch.count; i++) verifier.verify(data, offsets[2 * i]!, offsets[2 * i + 1]!, now);
    }
  } catch (err) {
    error = String((err as Error).message ?? err);
  }
  const elapsedNs = monotonicNs() - start;
  clearInterval(progress);
  clearTimeout(deadline);
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once("exit", r)))));
  await receiver.close();

  const report = verifier.report();
  const usage = process.resourceUsage();
  const elapsedMs = elapsedNs / 1e6;
  const problems = [...report.problems.map((p) => p.detail), ...lost.map((e) => e.message), ...producerErrors];
  const record: RunRecord = {
    transport: s.entry.id,
    scenario: "stream",
    producers: s.producers,
    messages: s.messages,
    size: s.size,
    elapsedMs: round(elapsedMs),
    msgsPerSec: Math.round(report.received / (elapsedMs / 1000)),
    mbPerSec: round((report.received * s.size) / 1e6 / (elapsedMs / 1000)),
    latencyP50Us: round(report.latencyP50Us),
    latencyP99Us: round(report.latencyP99Us),
    total: report.total,
    expectedTotal: report.expectedTotal,
    received: report.received,
    ok: report.ok && problems.length === 0 && error === undefined,
    ...(error || problems.length ? { error: error ?? problems[0] } : {}),
    ...(problems.length ? { problems } : {}),
    cpuMs: { consumer: round((usage.userCPUTime + usage.systemCPUTime) / 1000), producers: round(stats.reduce((a, b) => a + b.cpuMs, 0)) },
    peakRssBytes: { consumer: usage.maxRSS * 1024, producers: Math.max(0, ...stats.map((x) => x.maxRssBytes)) },
    ...(stats.some((x) => x.endpoint) ? { producerEndpoints: stats.map((x) => x.endpoint ?? "") } : {}),
  };
  emit({ record });
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

main().catch((err) => {
  emit({ fatal: String((err as Error)?.message ?? err).split("\n")[0] });
  process.stderr.write(`consumer: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
});
