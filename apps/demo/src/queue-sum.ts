/**
 * pnpm demo --scenario queue-sum --transport <id|all> [--count N] [--json]
 *
 * The notes' two-worker queue sum: two worker processes each count to N (50
 * million by default) one by one and put their subtotal on the main process's
 * channel; the main process joins them, puts an "exit" marker after them and
 * adds up what arrives: 2 × N (100,000,000). The channel is the transport's
 * own many-producer Receiver carrying objects (what Python's Queue is for
 * this program); the workers' links to the main process use it too.
 */
import { spawnSync } from "node:child_process";
import { ObjectReceiver, ObjectSender, Process, v8Codec } from "@ipc-sampler/process";
import { formatHelp, integerOption, parseCommandLine, type OptionSpecs } from "./options.js";
import { chooseTransports } from "./pool-map.js";
import { loadTransport } from "./transports.js";

const SPECS = {
  scenario: { type: "string", value: "name", help: "queue-sum" },
  transport: { type: "string", value: "id", help: "any transport but pipe, or all", default: "uds" },
  count: { type: "string", value: "N", help: "what each of the two workers counts to", default: "50000000" },
  json: { type: "boolean", help: "one JSON record per transport on stdout" },
  help: { type: "boolean", help: "this text" },
} as const satisfies OptionSpecs;

const WORKERS = 2;

/** `demo --scenario queue-sum …`: resolves with the exit code; usage errors throw UsageError. */
export async function runQueueSum(argv: readonly string[]): Promise<number> {
  const flags = parseCommandLine(argv, SPECS);
  if (flags.help) {
    process.stdout.write(formatHelp(["pnpm demo --scenario queue-sum [options]"], "Two worker processes count to N and put their subtotals on one channel; checks the total.", SPECS));
    return 0;
  }
  const n = integerOption(flags.count, "count", 50_000_000, 1, 1_000_000_000);
  const chosen = chooseTransports(flags.transport ?? "uds", "queue-sum");
  // Every transport in a process of its own, as the bench runs its cases:
  // native modules of one never share a process with another's.
  if (chosen.length > 1) {
    let failed = 0;
    for (const entry of chosen) {
      const args = [process.argv[1]!, "--scenario", "queue-sum", "--transport", entry.id, "--count", String(n), ...(flags.json ? ["--json"] : [])];
      const r = spawnSync(process.execPath, args, { stdio: "inherit" });
      if (r.status !== 0) failed++;
    }
    return failed === 0 ? 0 : 1;
  }
  let failures = 0;
  for (const entry of chosen) {
    const record: Record<string, unknown> = { scenario: "queue-sum", transport: entry.id, workers: WORKERS, count: n, expected: WORKERS * n };
    let queue: ObjectReceiver | undefined;
    const workers: Process[] = [];
    try {
      const transport = await loadTransport(entry);
      const t0 = performance.now();
      // Two workers and the main process's own "exit" marker put on it.
      queue = new ObjectReceiver(await transport.listen({ ...entry.listenOptions, expectedProducers: WORKERS + 1 }), v8Codec);
      const address = queue.bytes.address;
      for (let i = 0; i < WORKERS; i++) workers.push(new Process({ module: new URL("./queue-sum-tasks.js", import.meta.url), target: "count", args: [n, address, entry.id], transport }));
      for (const w of workers) await w.start();
      const codes = [];
      for (const w of workers) codes.push(await w.join());
      const marker = new ObjectSender(await transport.connect(address), v8Codec);
      await marker.send("exit");
      await marker.close();
      // Every producer's messages arrive in its order, not in the order the
      // producers sent them: read until all three have closed.
      let total = 0;
      let subtotals = 0;
      let exit = false;
      for await (const v of queue) {
        if (v === "exit") exit = true;
        else if (typeof v === "number") {
          total += v;
          subtotals++;
        }
      }
      const elapsedMs = Math.round(performance.now() - t0);
      const ok = total === WORKERS * n && subtotals === WORKERS && exit && codes.every((c) => c === 0);
      Object.assign(record, { total, elapsedMs, ok, ...(ok ? {} : { error: `subtotals ${subtotals}, exit marker ${exit}, worker exit codes ${codes.join(", ")}` }) });
    } catch (err) {
      Object.assign(record, { ok: false, error: (err as Error).message });
    } finally {
      for (const w of workers) if (w.isAlive()) w.kill();
      await queue?.close();
    }
    if (!record.ok) failures++;
    if (flags.json) process.stdout.write(`${JSON.stringify(record)}\n`);
    else {
      const result = record.ok ? "OK" : `FAILED: ${record.error}`;
      process.stdout.write(`queue-sum ${entry.id}: ${WORKERS} workers x ${n.toLocaleString("en-US")}: total_number=${Number(record.total ?? 0).toLocaleString("en-US")} in ${record.elapsedMs ?? "?"} ms  ${result}\n`);
    }
  }
  return failures === 0 ? 0 : 1;
}
