/**
 * ipc-sampler clean: removes the named resources (sockets, FIFOs, queues,
 * segments, semaphores, journals) that crashed processes left behind, asking
 * each transport's removeStale.
 */
import type { Transport } from "@ipc-sampler/core";
import { formatHelp, parseCommandLine } from "./options.js";
import { loadTransport, transports } from "./transports.js";

const OPTIONS = { help: { type: "boolean", help: "this text" } } as const;

/** `ipc-sampler clean`: resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (parseCommandLine(argv, OPTIONS).help) {
    process.stdout.write(formatHelp(["ipc-sampler clean        (in the repository: pnpm clean-stale)"], "Removes resources left by crashed processes, for every transport that names them.", OPTIONS));
    return 0;
  }
  let removed = 0;
  const seen = new Set<Transport>();
  for (const entry of transports) {
    let transport: Transport;
    try {
      transport = await loadTransport(entry);
    } catch {
      continue;
    }
    if (!transport.removeStale || seen.has(transport)) continue;
    seen.add(transport);
    for (const name of await transport.removeStale()) {
      process.stdout.write(`removed ${entry.id}: ${name}\n`);
      removed++;
    }
  }
  process.stdout.write(`${removed} stale resource(s) removed\n`);
  return 0;
}
