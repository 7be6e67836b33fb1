// Types for bench/reference/index.mjs (plain ESM, no build step).

export type ReferenceKind = "reference-c" | "node-ipc" | "node-net" | "python";

export interface StreamRecord {
  transport: string;
  kind: ReferenceKind;
  /** C references: the project transport id this reference stands beside. */
  mechanism?: string;
  producers: number;
  /** Messages per producer. */
  messages: number;
  size: number;
  elapsedMs?: number;
  msgsPerSec?: number;
  mbPerSec?: number;
  latencyP50Us?: number;
  latencyP99Us?: number;
  total?: number;
  ok: boolean;
  error?: string;
  /** Set when the case cannot run here (the reason); ok is false then. */
  skipped?: string;
  cpuMs?: { consumer: number; producers: number };
  peakRssBytes?: { consumer: number; producers: number };
}

export interface RoundTripRecord {
  transport: string;
  kind: "reference-c";
  mechanism: string;
  mode: "roundtrip";
  size: number;
  roundTrips: number;
  warmup?: number;
  /** The CPU the pinging parent pinned itself to (--pinger-cpu), when asked. */
  pingerCpu?: number;
  /** The CPU the echoing child pinned itself to (--ponger-cpu), when asked. */
  pongerCpu?: number;
  /** The CPUs each side was seen running on (sched_getcpu, sampled during the run); on a completed run. */
  cpus?: { pinger: number[]; ponger: number[] };
  p50Us?: number;
  p99Us?: number;
  p999Us?: number;
  ok: boolean;
  error?: string;
  skipped?: string;
}

export interface ReferenceCommand {
  kind: ReferenceKind;
  transport: string;
  mechanism: string;
  /** argv[0] is the program. */
  argv: string[];
  skip?: { reason: string; record: StreamRecord };
}

export const C_BINARY: string;
export const NODE_IPC_SCRIPT: string;
export const PYTHON_SCRIPT: string;
export const C_MECHANISMS: readonly string[];
export const references: ReadonlyArray<{
  kind: ReferenceKind;
  transports: readonly string[];
  mechanisms: readonly string[];
  roundtrip: boolean;
  limits?: Record<string, string>;
}>;

export function buildReferences(options?: { force?: boolean }): { ok: boolean; error?: string; binary: string; built: boolean };
export function findPython(): { python: string | null; reason?: string };
export function referenceCommands(options?: {
  mechanism?: string;
  producers?: number;
  messages?: number;
  size?: number;
  roundtrip?: number;
  /** Round trip: pin the pinging parent to this CPU (sched_setaffinity). */
  pingerCpu?: number;
  /** Round trip: pin the echoing child to this CPU (sched_setaffinity after fork). */
  pongerCpu?: number;
  timeoutS?: number;
}): ReferenceCommand[];
export function runReference(
  entry: ReferenceCommand,
  options?: { timeoutMs?: number; env?: NodeJS.ProcessEnv },
): Promise<StreamRecord | RoundTripRecord>;
