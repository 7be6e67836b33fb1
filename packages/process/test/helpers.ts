import { spawn, type ChildProcess } from "node:child_process";
import { Process } from "../dist/index.js";

export const tasks = new URL("./fixtures/tasks.mjs", import.meta.url);

/** True while a process with this pid exists (and is not a zombie we reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

const started: ChildProcess[] = [];
const pids: number[] = [];

/** Runs a node script; collects its stdout lines. Killed in teardown by killAll(). */
export function runScript(file: URL, args: string[] = []): { child: ChildProcess; lines: string[]; line: (re: RegExp) => Promise<string> } {
  const child = spawn(process.execPath, [file.pathname, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  started.push(child);
  const lines: string[] = [];
  let buf = "";
  const waiters: Array<() => void> = [];
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  const line = async (re: RegExp) => {
    for (;;) {
      const found = lines.find((l) => re.test(l));
      if (found) return found;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`script ended without printing ${re}: ${lines.join("\n")}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        child.once("exit", () => r());
      });
    }
  };
  return { child, lines, line };
}

/** Remembers a pid to SIGKILL in teardown. */
export function track(pid: number | undefined): void {
  if (pid) pids.push(pid);
}

export function killAll(): void {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const p of pids.splice(0)) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // gone
    }
  }
}

/** Starts `target` of `module` in a Process, killed in teardown by killAll(). */
export async function startTracked(module: URL, target: string, args: unknown[]): Promise<Process> {
  const p = new Process({ module, target, args });
  await p.start();
  track(p.pid);
  return p;
}
