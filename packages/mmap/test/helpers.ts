import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const FIXTURE = fileURLToPath(new URL("./fixtures/producer.mjs", import.meta.url));
export const live = new Set<ChildProcess>();

export interface Child {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  waitFor(pred: (l: Record<string, any>) => boolean, ms?: number): Promise<Record<string, any>>;
  exit: Promise<number | null>;
}

/** Starts the fixture with a hard timeout; every child is killed in afterEach. */
export function start(mode: string, args: unknown, timeoutMs = 120_000): Child {
  const child = spawn(process.execPath, [FIXTURE, mode, JSON.stringify(args)], { stdio: ["ignore", "pipe", "inherit"] });
  live.add(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const lines: Array<Record<string, unknown>> = [];
  const watchers: Array<{ pred: (l: Record<string, any>) => boolean; resolve: (l: Record<string, any>) => void }> = [];
  let buf = "";
  child.stdout!.setEncoding("utf8").on("data", (t: string) => {
    buf += t;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of watchers.splice(0)) (w.pred(line) ? w.resolve(line) : watchers.push(w));
    }
  });
  const exit = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      live.delete(child);
      resolve(code);
    }),
  );
  return {
    child,
    lines,
    exit,
    waitFor(pred, ms = 20_000) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching line from ${mode} within ${ms} ms: ${JSON.stringify(lines)}`)), ms);
        watchers.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
      });
    },
  };
}

export function killAll(): void {
  for (const c of live) c.kill("SIGKILL");
  live.clear();
}

/** utime + stime of a process in clock ticks (/proc/<pid>/stat fields 14 and 15). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}
