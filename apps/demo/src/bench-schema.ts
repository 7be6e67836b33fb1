/**
 * The benchmark results file, `bench/results/<date>-<host>.json` (and
 * `bench/results/latest.json`, the one the docs site reads). Versioned: a
 * reader checks `schema` and refuses versions it does not know.
 */
export const BENCH_SCHEMA = "ipc-sampler/bench@1";

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  kernel: string;
  os: string;
  node: string;
  /** Kernel limits that shape the results. */
  limits: {
    pipeBufBytes: number;
    pipeMaxSizeBytes: number;
    mqMsgMax: number;
    mqMsgsizeMax: number;
  };
}

/** What kind of row: one of our transports, or a reference to compare with. */
export type RowKind = "transport" | "reference-c" | "node-ipc" | "node-net" | "python";

/** One-way streaming throughput for one (transport, producers, size) case. */
export interface ThroughputRow {
  transport: string;
  kind: RowKind;
  /** The mechanism the row measures (`pipe` for both our pipe and the C pipe reference). */
  mechanism: string;
  producers: number;
  size: number;
  messages: number;
  /** Set when the case could not run; the reason. The stats are then absent. */
  skipped?: string;
  /** True when every measured repetition verified every message. */
  ok: boolean;
  error?: string;
  repetitions: number;
  msgsPerSec?: Stat;
  mbPerSec?: Stat;
  latencyP50Us?: Stat;
  latencyP99Us?: Stat;
  /** CPU time in ms of the consumer and of all producers together (median run). */
  cpuMs?: { consumer: number; producers: number };
  peakRssBytes?: { consumer: number; producers: number };
  /**
   * The same case without the scenario's per-message work (our transports
   * only): one message encoded once and sent M times, counted and
   * size-checked at the consumer. Absent in files written before it existed.
   */
  transportOnly?: TransportOnly;
}

/** A transport-only measurement beside a scenario row (what the mechanism can do). */
export interface TransportOnly {
  /** Messages per producer (ten times the scenario's for sizes up to 1 KiB; absent in the first files with the column). */
  messages?: number;
  ok: boolean;
  error?: string;
  repetitions: number;
  msgsPerSec?: Stat;
  mbPerSec?: Stat;
  cpuMs?: { consumer: number; producers: number };
}

/** Round-trip latency at 64 B between two processes (ping-pong). */
export interface RoundTripRow {
  transport: string;
  kind: RowKind;
  mechanism: string;
  size: number;
  roundTrips: number;
  /** `same-cpu`: both pinned to CPU 0; `split-cpu`: CPU 0 and 1; `unpinned`. */
  placement: "same-cpu" | "split-cpu" | "unpinned";
  skipped?: string;
  ok: boolean;
  error?: string;
  p50Us?: number;
  p99Us?: number;
  p999Us?: number;
  /** CPUs each side was seen running on (sched_getcpu), where the program reports them. */
  cpus?: { pinger: number[]; ponger: number[] };
}

export interface BenchResults {
  schema: typeof BENCH_SCHEMA;
  createdAt: string;
  quick: boolean;
  machine: MachineFacts;
  settings: { warmups: number; repetitions: number; messagesBySize: Record<string, number> };
  throughput: ThroughputRow[];
  roundTrip: RoundTripRow[];
  /** Process pools (absent in files written before the pool section existed). */
  pool?: PoolSection;
  /** Queue, Value and Event of @ipc-sampler/process against Python and C (absent before that section existed). */
  sharedState?: SharedStateSection;
}

/** One case of the shared-state section: ours, Python's, and for the Event the C futex reference. */
export interface SharedStateRow {
  /** As packages/process/bench/shared-state-bench.mjs names it, e.g. "queue put/get 4→2, v8 codec". */
  case: string;
  ok: boolean;
  /** msgs/s, ops/s (higher is better) or p50 µs (lower is better). */
  unit?: string;
  ours?: number;
  python?: number;
  c?: number;
  /** ours ÷ Python (for p50 µs: how many times Python's latency). */
  vsPython?: number;
  /** Event only: ours ÷ C futex p50. */
  vsC?: number;
}

export interface SharedStateSection {
  method: string;
  rows: SharedStateRow[];
  /** The whole section did not run, and why. */
  skipped?: string;
  /** Our script failed. */
  error?: string;
  /** Why a reference column is empty. */
  pythonSkipped?: string;
  cSkipped?: string;
}

/**
 * One row of the pool section: a pool of 2 workers (ours over one transport,
 * Python's multiprocessing.Pool, or a child_process.fork + process.send pool).
 */
export interface PoolRow {
  /** Our transport id, or `python-pool` / `node-fork-pool`. */
  transport: string;
  kind: "transport" | "python" | "node-ipc";
  skipped?: string;
  ok: boolean;
  error?: string;
  /** Pool start-up (2 workers), not part of any timed case. */
  startMs?: number;
  /** map of `items` ints with the default chunksize (the fork pool: 4 messages per worker). */
  mapIntsPerSec?: number;
  /** map of `tasks` tasks with chunksize 1. */
  mapTasksPerSec?: number;
  applyP50Us?: number;
  applyP99Us?: number;
  /** start → join of a Process with an empty target (median), and of child_process.fork of the same module. */
  startJoinMs?: number;
  forkStartJoinMs?: number;
  /** Ours over the reference (rates: ours/theirs, so > 1 is faster; times: ours/theirs, so < 1 is faster). */
  ratios?: {
    mapIntsVsPython?: number;
    mapTasksVsPython?: number;
    mapIntsVsFork?: number;
    mapTasksVsFork?: number;
    /** apply p50 / the transport's own 64 B round trip p50 in this run. */
    applyVsRoundTrip?: number;
    startJoinVsFork?: number;
  };
}

export interface PoolSection {
  method: string;
  processes: number;
  items: number;
  tasks: number;
  applyCalls: number;
  startJoins: number;
  rows: PoolRow[];
}
