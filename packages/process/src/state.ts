/**
 * Per-process state shared by every copy of this package a process loads
 * (the ESM and the CJS build, or two installs): it lives on globalThis under
 * one registered symbol, so currentProcess() inside a target answers the same
 * as the child program that started it.
 */
export interface ProcessInfo {
  readonly name: string;
  readonly pid: number;
  readonly daemon: boolean;
  /** The pid of the process that started this one (undefined in the main process). */
  readonly parentPid: number | undefined;
}

export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR";

interface SharedState {
  info: ProcessInfo;
  /** Undefined while logging is off. */
  logLevel: LogLevel | undefined;
  /** Makes (on first use) the signal of the task a pool worker runs now. */
  taskSignal: (() => AbortSignal) | undefined;
  /** Counter for default names (Process-1, PoolWorker-1, …). */
  counter: number;
  /** A worker started with runWorker: the transport its caller gave, used instead of loading one by name. */
  transport?: unknown;
}

const KEY = Symbol.for("ipc-sampler.process.state");

export function shared(): SharedState {
  const g = globalThis as unknown as Record<symbol, SharedState | undefined>;
  let s = g[KEY];
  if (!s) {
    s = { info: { name: "MainProcess", pid: process.pid, daemon: false, parentPid: undefined }, logLevel: undefined, taskSignal: undefined, counter: 0 };
    g[KEY] = s;
  }
  return s;
}

/** This process: its name, pid, daemon flag and parent (like multiprocessing.current_process()). */
export function currentProcess(): ProcessInfo {
  return shared().info;
}

/**
 * Inside a pool task: the signal that fires when the caller aborts the task or
 * its timeout passes. A task that checks it can stop before the pool sends
 * SIGTERM. Outside a task: a signal that never fires.
 */
export function taskSignal(): AbortSignal {
  return shared().taskSignal?.() ?? new AbortController().signal;
}

export function nextName(prefix: string): string {
  return `${prefix}-${++shared().counter}`;
}

/**
 * JavaScript's `if __name__ == "__main__"`: true in the program that was
 * started (`node file.js`), false when a child imports the same module to
 * find its target. Pass `import.meta.url`.
 */
export function isMainModule(moduleUrl: string): boolean {
  const main = process.argv[1];
  if (!main || shared().info.parentPid !== undefined) return false;
  try {
    return new URL(moduleUrl).pathname.replace(/\.[cm]?[jt]s$/, "") === new URL(`file://${main}`).pathname.replace(/\.[cm]?[jt]s$/, "");
  } catch {
    return false;
  }
}
