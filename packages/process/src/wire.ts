import type { Address } from "@ipc-sampler/core";
import type { LogLevel } from "./state.js";
import type { TransportSource } from "./transport.js";

/**
 * What parent and child say to each other on their link: short arrays,
 * V8-encoded, the tag first.
 *
 *   parent → child                         child → parent
 *   [INIT, Init]                           [READY, pid] | [INIT_FAILED, error]
 *   [TASK, id, fn, mode, payload]          [RESULT, id, value, spentMs] | [ERROR, id, error, spentMs?]
 *   [TASKS, ids, fns, modes, payloads]     [RESULTS, ids, oks, values, spentMs[]]   (many at once)
 *   [ABORT, id]                            [TARGET_FAILED, error]   (Process only)
 *   [STOP]
 *
 * spentMs: how long the task was in the child, from its message being read to
 * its result being written (the parent's round trip minus it is the transport).
 */
export const INIT = 0;
export const TASK = 1;
export const ABORT = 2;
export const STOP = 3;
export const TASKS = 4;
export const READY = 10;
export const INIT_FAILED = 11;
export const RESULT = 12;
export const ERROR = 13;
export const TARGET_FAILED = 14;
export const RESULTS = 15;
/** [RSS, bytes]: the worker's resident set after a run of results, when the pool recycles on it. */
export const RSS = 16;
/** [BYE]: a worker on another host closes its side (its pool need not wait for silence to know). */
export const BYE = 17;
/** [BEAT]: a worker on another host and its pool tell each other they are alive (a dropped link sends no FIN). */
export const BEAT = 18;

/** How a task's payload is applied: f(...payload), payload.map(f), payload.map(a => f(...a)). */
export const APPLY = 0;
export const MAP = 1;
export const STARMAP = 2;
export type TaskMode = typeof APPLY | typeof MAP | typeof STARMAP;

/** A function a child runs: an export of the pool's module, or of another module (URL). */
export type FunctionRef = string | readonly [module: string, exportName: string];

export interface Init {
  /** "process": run one target and exit; "worker": serve tasks until told to stop. */
  readonly mode: "process" | "worker";
  /** Module URL the target or the pool's functions come from. */
  readonly module: string;
  /** Process: the export to call. */
  readonly export?: string | undefined;
  readonly args?: readonly unknown[] | undefined;
  /** Worker: run once before the first task. */
  readonly initializer?: string | undefined;
  readonly initargs?: readonly unknown[] | undefined;
  /** Worker: report the resident set size after each run of results. */
  readonly reportRss?: boolean | undefined;
  /** Worker on another host: send a BEAT this often, and give the pool up after `silenceMs` without a word from it. */
  readonly heartbeatMs?: number | undefined;
  readonly silenceMs?: number | undefined;
}

/** What a child reads from its environment (IPCS_PROCESS, JSON) before anything else. */
export interface Boot {
  readonly parent: Address;
  readonly transport: TransportSource;
  readonly name: string;
  readonly daemon: boolean;
  readonly ppid: number;
  readonly logLevel?: LogLevel | undefined;
  /** A worker on another machine, started by hand (`ipc-sampler worker`), not by its pool. */
  readonly remote?: RemoteBoot | undefined;
}

export interface RemoteBoot {
  /** Transport options for the worker's own receiver and its sender (a `secret`, a `listen` endpoint). */
  readonly listen: Readonly<Record<string, unknown>>;
  readonly connect: Readonly<Record<string, unknown>>;
  /** How long to wait for the pool's endpoint (ms). */
  readonly timeoutMs: number;
  /** This host's copy of the pool's module, when it is not at the same path (a file URL). */
  readonly module?: string | undefined;
}

export const BOOT_ENV = "IPCS_PROCESS";
