import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

/** A child process that reports on stdout, one JSON object per line. */
export interface WatchedProcess {
  child: ChildProcess;
  lines: Array<Record<string, any>>;
  /** Resolves with the exit once the process has ended. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when a line satisfying `pred` has been printed; with `ms`, rejects after that long. */
  waitFor(pred: (line: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
}

const live = new Set<ChildProcess>();

/**
 * Starts `node <args>` with a hard timeout (SIGKILL) and collects its JSON
 * lines. Every process started here is killed by `killStartedProcesses()`.
 */
export function startProcess(args: readonly string[], options: { timeoutMs?: number; inherit?: readonly number[] } = {}): WatchedProcess {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit", ...(options.inherit ?? [])] });
  live.add(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  const lines: Array<Record<string, unknown>> = [];
  const watchers: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let buffered = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      for (const w of watchers.splice(0)) {
        if (w.pred(line)) w.resolve(line);
        else watchers.push(w);
      }
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child,
    lines,
    exit,
    waitFor(pred, ms) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = ms === undefined ? undefined : setTimeout(() => reject(new Error(`no matching line within ${ms} ms: ${JSON.stringify(lines)}`)), ms);
        watchers.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
      });
    },
  };
}

/** SIGKILLs every process `startProcess` started that is still running. */
export function killStartedProcesses(): void {
  for (const c of live) c.kill("SIGKILL");
  live.clear();
}

/** utime + stime of a process in clock ticks (/proc/<pid>/stat fields 14 and 15). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/**
 * Waits until none of these processes has used CPU for `quietMs` (at most
 * `timeoutMs`; a process that spins never gets there): the start of an idle
 * measurement, since a fixed delay can end too early on a loaded machine.
 */
export async function settledCpu(pids: readonly number[], quietMs = 300, timeoutMs = 10_000): Promise<void> {
  let last = pids.map(() => -1);
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    const now = pids.map(cpuTicks);
    if (now.every((t, i) => t === last[i])) return;
    last = now;
    await new Promise((res) => setTimeout(res, quietMs));
  }
}

/** A fixture process as a transport's own tests see it: `exit` is the exit code. */
export interface FixtureProcess extends Omit<WatchedProcess, "exit"> {
  exit: Promise<number | null>;
}

/**
 * Starts a transport's test fixture (`node <script> <mode> <json args>`)
 * with a hard timeout; its waitFor gives up after 20 s unless told otherwise.
 */
export function startFixture(script: string, mode: string, args: unknown, timeoutMs = 120_000): FixtureProcess {
  const run = startProcess([script, mode, JSON.stringify(args)], { timeoutMs });
  return { ...run, exit: run.exit.then((e) => e.code), waitFor: (pred, ms = 20_000) => run.waitFor(pred, ms) };
}
