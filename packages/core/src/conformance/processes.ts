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
 * Starts `node <args>` (under another command, `wrap`, if given) with a hard
 * timeout (SIGKILL) and collects its JSON lines. Every process started here is killed by `killStartedProcesses()`.
 */
export function startProcess(args: readonly string[], options: { timeoutMs?: number; inherit?: readonly number[]; wrap?: readonly string[] } = {}): WatchedProcess {
  const argv = [...(options.wrap ?? []), process.execPath, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "inherit", ...(options.inherit ?? [])] });
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

/** A zombie: dead, not yet reaped by its parent (kill(pid, 0) still succeeds). */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat[stat.lastIndexOf(")") + 2] === "Z";
  } catch {
    return false;
  }
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

/** A Node process running an ES module snippet: its first stdout line, and how it ended (exit code, or the signal's name). */
export interface SnippetProcess {
  child: ChildProcess;
  line: Promise<string>;
  exit: Promise<number | string | null>;
}

/**
 * Runs an ES module snippet in a fresh Node process (optionally under
 * another command, `wrap`) with a hard limit (SIGKILL after `timeoutMs`,
 * default 20 s). Killed by `killStartedProcesses()` too.
 */
export function runSnippet(code: string, options: { wrap?: readonly string[]; timeoutMs?: number } = {}): SnippetProcess {
  const argv = [...(options.wrap ?? []), process.execPath, "--input-type=module", "-e", code];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  live.add(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000);
  const exit = new Promise<number | string | null>((resolve) =>
    child.on("exit", (c, s) => {
      clearTimeout(timer);
      live.delete(child);
      resolve(s ?? c);
    }),
  );
  const line = new Promise<string>((resolve, reject) => {
    let buf = "";
    child.stdout!.setEncoding("utf8").on("data", (t: string) => {
      buf += t;
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    void exit.then(() => reject(new Error(`child exited before printing a line: ${buf}`)));
  });
  line.catch(() => {});
  return { child, line, exit };
}

/** Adds a child process started elsewhere to those `killStartedProcesses()` kills; returns it. */
export function trackProcess<C extends ChildProcess>(child: C): C {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** Resolves once `child` has ended, with its exit code (null after a signal). */
export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(child.exitCode) : child.once("exit", (c) => r(c))));
}

/** SIGKILLs a fixture at a random moment 0–100 ms after it printed `{ ready: true }`; resolves with the time of the kill (Date.now()). */
export async function killWhenReady(p: Pick<WatchedProcess, "child" | "waitFor">): Promise<number> {
  await p.waitFor((l) => l.ready === true);
  await new Promise((r) => setTimeout(r, Math.random() * 100));
  const at = Date.now();
  p.child.kill("SIGKILL");
  return at;
}
