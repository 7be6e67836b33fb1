// Kernel limits of the machine that built this site: which limits matter to
// each transport, and where each is read, come from its descriptor
// (`kernelLimits`); here they are read from /proc, getconf and statfs at build
// time. The benchmark machine's own limits come from the results file.
import { execFileSync } from "node:child_process";
import { readFileSync, statfsSync } from "node:fs";
import os from "node:os";
import { kernelLimitSource, type KernelLimitSource } from "@ipc-sampler/core";
import { descriptorsWatch, loadDescriptors } from "./descriptors.data";

export interface Limit {
  /** Where the value comes from: a /proc file, getconf name or statfs(2). */
  source: string;
  /** What it limits, in a few words. */
  meaning: string;
  /** Bytes or a count; undefined when this machine does not expose it. */
  value?: number;
  unit: "bytes" | "count";
}

export interface LimitsData {
  host: string;
  kernel: string;
  /** Limits that matter to each transport id. */
  byTransport: Record<string, Limit[]>;
}

declare const data: LimitsData;
export { data };

function proc(file: string, field = 0): number | undefined {
  try {
    const n = Number(readFileSync(file, "utf8").trim().split(/\s+/)[field]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function getconf(name: string, path?: string): number | undefined {
  try {
    const n = Number(execFileSync("getconf", path ? [name, path] : [name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function fsSize(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.blocks * s.bsize;
  } catch {
    return undefined;
  }
}

/** The value of one limit on this machine, read where its descriptor says. */
function read(from: KernelLimitSource): number | undefined {
  if ("proc" in from) return proc(from.proc, from.field);
  if ("statfs" in from) return fsSize(from.statfs);
  const n = getconf(from.getconf, from.path);
  return n === undefined ? undefined : n * (from.times ?? 1);
}

export async function loadLimits(): Promise<LimitsData> {
  const byTransport: Record<string, Limit[]> = {};
  for (const row of await loadDescriptors()) {
    byTransport[row.id] = (row.descriptor?.kernelLimits ?? []).map((l) => ({ source: kernelLimitSource(l.from), meaning: l.meaning, value: read(l.from), unit: l.unit }));
  }
  return { host: os.hostname(), kernel: `${os.type()} ${os.release()}`, byTransport };
}

export default { watch: descriptorsWatch, load: loadLimits };
