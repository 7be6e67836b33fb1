/**
 * Where the two sides of a round trip run. `same-cpu`: both on CPU 0;
 * `split-cpu`: the pinger on CPU 0, the ponger on CPU 1; `unpinned`: wherever
 * the scheduler puts them (no `taskset` here).
 *
 * Our transports start the ponger as its own command, so a `taskset` prefix
 * per side places them. A C reference forks its ponger, which would inherit a
 * `taskset` around the parent: it gets `--pinger-cpu`/`--ponger-cpu` instead,
 * pins each side itself, and reports the CPUs each side was seen on, which
 * `placementProblem` checks.
 */
import type { RoundTripRow } from "./bench-schema.js";

export type Placement = RoundTripRow["placement"];

/** The CPU each side is pinned to, or undefined when unpinned. */
export function placementCpus(p: Placement): { pinger: number; ponger: number } | undefined {
  if (p === "same-cpu") return { pinger: 0, ponger: 0 };
  if (p === "split-cpu") return { pinger: 0, ponger: 1 };
  return undefined;
}

/** `taskset` command prefixes for the pinger and the ponger (empty when unpinned). */
export function placementPrefix(p: Placement): { pinger: string[]; ponger: string[] } {
  const cpus = placementCpus(p);
  if (!cpus) return { pinger: [], ponger: [] };
  return { pinger: ["taskset", "-c", String(cpus.pinger)], ponger: ["taskset", "-c", String(cpus.ponger)] };
}

/** The `referenceCommands` options that place a C reference round trip. */
export function referencePlacement(p: Placement): { pingerCpu?: number; pongerCpu?: number } {
  const cpus = placementCpus(p);
  return cpus ? { pingerCpu: cpus.pinger, pongerCpu: cpus.ponger } : {};
}

/**
 * Checks a completed C reference round-trip record against its placement:
 * undefined when each pinned side was seen only on its CPU, else the problem
 * as a sentence. Records that did not complete (not ok) are left alone.
 */
export function placementProblem(p: Placement, rec: Record<string, unknown>): string | undefined {
  if (rec.ok !== true) return undefined;
  const want = placementCpus(p);
  if (!want) return undefined;
  const cpus = rec.cpus as { pinger?: unknown; ponger?: unknown } | undefined;
  for (const side of ["pinger", "ponger"] as const) {
    const seen = cpus?.[side];
    if (!Array.isArray(seen)) return `${p}: the record does not say which CPUs the ${side} ran on`;
    if (seen.length !== 1 || seen[0] !== want[side]) {
      return `${p}: the ${side} should run on CPU ${want[side]} only but ran on CPUs [${seen.join(", ")}]`;
    }
  }
  return undefined;
}
