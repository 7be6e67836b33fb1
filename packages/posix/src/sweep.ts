import { ChannelError, fromSystemError, type NamedKindId, type RemoveStaleOptions, type StaleEntry } from "@ipc-sampler/core";
import { accessSync, constants } from "node:fs";
import { ageMs } from "./owner.js";

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
}

/** How a kind reaches one of its resources by name. */
export interface SweepAccess {
  /** The file whose age tells whether its creator may still be taking its lock (undefined: no file, no grace). */
  pathOf(name: string): string | undefined;
  /** Whether a live process owns it (undefined: cannot tell, treated as no owner). */
  held(name: string): boolean | undefined;
  remove(name: string): void;
}

/** Default RemoveStaleOptions.minAgeMs: a creator takes its lock microseconds after the resource appears. */
export const STALE_MIN_AGE_MS = 500;

/**
 * The one removeStale: for each name, keep it when its owner holds the lock
 * or it is younger than `minAgeMs`, else remove it (or only say so, with
 * `dryRun`). A removal that fails is reported, never thrown, so one resource
 * this user may not remove does not stop the sweep.
 */
export function sweepStale(kind: NamedKindId, names: readonly string[], options: RemoveStaleOptions, access: SweepAccess): StaleEntry[] {
  const minAge = options.minAgeMs ?? STALE_MIN_AGE_MS;
  const out: StaleEntry[] = [];
  for (const name of names) {
    const held = access.held(name);
    if (held === true) {
      out.push({ kind, name, outcome: "kept", reason: "owner alive" });
      continue;
    }
    const file = access.pathOf(name);
    if (held === undefined && file !== undefined && !readable(file)) {
      // Another user's resource this process may not open: whether its owner lives cannot be known here.
      out.push({ kind, name, outcome: "kept", reason: "owner unknown: no permission to open it and check" });
      continue;
    }
    if (file !== undefined && minAge > 0 && ageMs(file) < minAge) {
      out.push({ kind, name, outcome: "kept", reason: `younger than ${minAge} ms` });
      continue;
    }
    if (options.dryRun) {
      out.push({ kind, name, outcome: "removed", reason: "no owner (dry run: not removed)" });
      continue;
    }
    try {
      access.remove(name);
      out.push({ kind, name, outcome: "removed", reason: "no owner" });
    } catch (err) {
      const error = err instanceof ChannelError ? err : fromSystemError(err, "remove", name);
      out.push({ kind, name, outcome: "failed", reason: `${error.errno ?? error.code}: ${error.message}`, error });
    }
  }
  return out;
}
