/**
 * A producer process of one scenario run:
 *   node producer.js <json: entry, address, id, messages, size, transportOnly?>
 * Attaches, says ready, waits for "go" on stdin, sends its messages as fast as
 * the transport takes them, closes, and reports its CPU time and peak RSS.
 * transportOnly: one message encoded once and sent M times (no clock, no
 * checksum per message), so the run measures the transport alone.
 */
import { readlinkSync } from "node:fs";
import { ScenarioEncoder, type Address } from "@ipc-sampler/core";
import { loadTransport, type TransportEntry } from "./transports.js";

interface Job {
  entry: TransportEntry;
  address: Address;
  id: number;
  messages: number;
  size: number;
  transportOnly?: boolean;
}

function emit(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  const transport = await loadTransport(job.entry);
  const sender = await transport.connect(job.address);
  // What the kernel says the inherited descriptor is (pipe:[…] for a pipe).
  const fd = job.address.fd;
  const endpoint = typeof fd === "number" ? readlinkSync(`/proc/self/fd/${fd}`) : undefined;
  const encoder = new ScenarioEncoder(job.id, job.size);
  const go = new Promise<void>((resolve) => {
    process.stdin.once("data", () => resolve());
    process.stdin.once("end", () => resolve());
  });
  emit({ ready: true });
  await go;
  if (job.transportOnly) {
    const message = encoder.encode(0);
    for (let i = 0; i < job.messages; i++) {
      if (!sender.write(message)) await sender.drain();
    }
  } else {
    for (let i = 0; i < job.messages; i++) {
      if (!sender.write(encoder.encode(i))) await sender.drain();
    }
  }
  await sender.close();
  const u = process.resourceUsage();
  emit({ stats: { cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000, maxRssBytes: u.maxRSS * 1024, endpoint } });
}

main().catch((err) => {
  // The code leads, as the consumer's record shows it: "EMSGSIZE: cannot send …".
  const code = (err as { code?: unknown })?.code;
  emit({ error: `${typeof code === "string" ? `${code}: ` : ""}${String((err as Error)?.message ?? err)}` });
  process.exitCode = 1;
});
