/**
 * `ipc-sampler clean`: finds the named resources ipc-sampler processes left
 * (every transport's, shared values, user semaphores) and removes the ones no
 * live process owns. Ownership is the lock each creator holds (see
 * @ipc-sampler/posix owner.ts), so a live owner in another pid namespace is
 * kept and a dead owner's resource goes even when its pid was reused.
 *
 *   ipc-sampler clean [--list | --dry-run] [--prefix <p>] [--min-age-ms <ms>]
 *   (in the repository: pnpm clean-stale)
 *
 * It never stops at a resource it may not remove: it says why and goes on.
 * Exit 0 unless no kind of resource could be read at all.
 */
import { parseArgs } from "node:util";
import type { NamedResources, StaleEntry } from "@ipc-sampler/core";
import { loadTransport, transports } from "./transports.js";

export const CLEAN_HELP = `usage: ipc-sampler clean [--list | --dry-run] [--prefix <p>] [--min-age-ms <ms>]

Removes named resources (shared memory, semaphores, message queues, FIFOs,
socket files, journals, ZeroMQ ipc files, shared values) that no live process
owns.

  --list             show every resource and whether its owner is alive; remove nothing
  --dry-run          show what would be removed; remove nothing
  --prefix <p>       names starting with this (default ipcs-)
  --min-age-ms <ms>  never remove anything younger (default 500: its creator may be starting)
`;

/** A source of named resources: a transport's capability, or one of the other kinds. */
interface Source {
  readonly label: string;
  load(): Promise<NamedResources | undefined>;
}

function sources(): Source[] {
  const out: Source[] = transports.map((entry) => ({
    label: entry.id,
    load: async () => (await loadTransport(entry)).named,
  }));
  out.push({ label: "shared values", load: async () => (await import("@ipc-sampler/shm")).sharedValues });
  // Any semaphore or /dev/shm segment with the prefix (a user's, made with the
  // kinds directly). Not every directory or node in /tmp with the prefix: only
  // the transports' own, which carry their tag.
  out.push({
    label: "semaphores and segments",
    load: async () => {
      const [{ namedResources }, { semaphores, segments }] = await Promise.all([import("@ipc-sampler/core"), import("@ipc-sampler/posix")]);
      return namedResources(semaphores, segments);
    },
  });
  return out;
}

export interface CleanSummary {
  entries: StaleEntry[];
  /** Sources that could not be read, and why. */
  unreadable: Array<{ label: string; reason: string }>;
  sourcesRead: number;
}

/** Sweeps every source; nothing here throws for one resource or one source. */
export async function clean(options: { prefix?: string; dryRun?: boolean; minAgeMs?: number }): Promise<CleanSummary> {
  const entries: StaleEntry[] = [];
  const seen = new Set<string>();
  const unreadable: CleanSummary["unreadable"] = [];
  let sourcesRead = 0;
  const capabilities = new Set<NamedResources>();
  for (const source of sources()) {
    let named: NamedResources | undefined;
    try {
      named = await source.load();
    } catch (err) {
      unreadable.push({ label: source.label, reason: `cannot load: ${(err as Error).message ?? err}` });
      continue;
    }
    if (!named || capabilities.has(named)) continue;
    capabilities.add(named);
    try {
      for (const e of await named.removeStale(options)) {
        const key = `${e.kind}:${e.name}`;
        if (seen.has(key)) continue;
        seen.add(key);
        entries.push(e);
      }
      sourcesRead++;
    } catch (err) {
      unreadable.push({ label: source.label, reason: (err as Error).message ?? String(err) });
    }
  }
  return { entries, unreadable, sourcesRead };
}

/** The CLI: prints one line per resource and a summary; returns the exit code. */
export async function runClean(argv: readonly string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  let values: { list?: boolean; "dry-run"?: boolean; prefix?: string; "min-age-ms"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { list: { type: "boolean" }, "dry-run": { type: "boolean" }, prefix: { type: "string" }, "min-age-ms": { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`ipc-sampler clean: ${(err as Error).message}\n${CLEAN_HELP}`);
    return 2;
  }
  if (values.help) {
    out(CLEAN_HELP);
    return 0;
  }
  const minAgeMs = values["min-age-ms"] === undefined ? undefined : Number(values["min-age-ms"]);
  if (minAgeMs !== undefined && !(Number.isInteger(minAgeMs) && minAgeMs >= 0)) {
    process.stderr.write(`ipc-sampler clean: --min-age-ms must be a non-negative integer; got ${values["min-age-ms"]}\n`);
    return 2;
  }
  const list = values.list === true;
  const dryRun = list || values["dry-run"] === true;
  const { entries, unreadable, sourcesRead } = await clean({ prefix: values.prefix, dryRun, minAgeMs });
  let removed = 0;
  let kept = 0;
  let failed = 0;
  for (const e of entries) {
    if (e.outcome === "removed") removed++;
    else if (e.outcome === "kept") kept++;
    else failed++;
    if (e.outcome === "kept" && !list) continue;
    const verb = e.outcome === "kept" ? "live" : e.outcome === "failed" ? "failed" : list ? "stale" : dryRun ? "would remove" : "removed";
    out(`${verb.padEnd(12)} ${e.kind.padEnd(9)} ${e.name}  (${e.reason})\n`);
  }
  for (const u of unreadable) out(`unreadable   ${u.label}: ${u.reason}\n`);
  const what = list ? `${removed} stale` : dryRun ? `${removed} would be removed` : `${removed} removed`;
  out(`${what}, ${kept} kept (owner alive or too young), ${failed} could not be removed, ${unreadable.length} source(s) unreadable\n`);
  return sourcesRead === 0 ? 1 : 0;
}
