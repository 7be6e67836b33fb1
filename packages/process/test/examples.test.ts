import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive, killAll, track, until } from "./helpers.js";

// The examples are TypeScript: type-checked here, built with esbuild into
// examples/dist (no bundling: they import @ipc-sampler/process by name) and run
// with node, at a tenth of their sleeps.
const dir = fileURLToPath(new URL("../examples/", import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".ts")).map((f) => dir + f);
const run = promisify(execFile);

async function example(name: string): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [`${dir}dist/${name}.js`], { env: { ...process.env, EXAMPLE_SCALE: "0.1" }, timeout: 30_000 });
}

beforeAll(async () => {
  await build({ entryPoints: files, outdir: `${dir}dist`, format: "esm", platform: "node", target: "node20", logLevel: "silent" });
});
afterAll(killAll);

describe.concurrent("examples", () => {
  it("type-check", () => {
    const program = ts.createProgram(files, { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, lib: ["lib.es2023.d.ts", "lib.esnext.disposable.d.ts"], types: ["node"], skipLibCheck: true });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    expect(diagnostics).toEqual([]);
  });

  it("process-basics: four squares, then a loop terminated from outside", async () => {
    const { stdout } = await example("process-basics");
    const lines = stdout.trim().split("\n");
    expect(lines.slice(0, 4).sort()).toEqual(["1", "16", "4", "9"]);
    expect(lines).toContain("Main process");
    expect(lines).toContain("Looping");
    expect(lines.slice(-2)).toEqual(["Process terminated", "alive: false, exit code: -15"]);
  });

  it("process-exit: good 0, failing 1 with its error, killed -15", async () => {
    const { stdout, stderr } = await example("process-exit");
    expect(stdout).toMatch(/start name : goodJob, pid : \d+/); // currentProcess() in the child
    expect(stdout).toMatch(/process check : <Process\(goodJob, stopped\)> exit code : 0/);
    expect(stdout).toMatch(/process check : <Process\(failJob, stopped\)> exit code : 1/);
    expect(stdout).toMatch(/termination process : <Process\(killJob, started\)>/);
    expect(stdout).toMatch(/process check : <Process\(killJob, stopped\)> exit code : -15/);
    expect(stdout).toMatch(/failJob's error: fail_job gave up/);
    expect(stderr).toMatch(/Process failJob:\nError: fail_job gave up\n\s+at failJob/);
  });

  it("daemon: the program waits for the non-daemon and takes the daemon down", async () => {
    const { stdout } = await example("daemon");
    const pid = Number(/daemon pid (\d+)/.exec(stdout)![1]);
    track(pid);
    expect(stdout).toMatch(/non-daemon: exit/);
    expect(stdout).not.toMatch(/^daemon: exit/m);
    expect(await until(() => !alive(pid), 3000)).toBe(true);
  });

  it("logging: [LEVEL/ProcessName] lines with each child's lifecycle", async () => {
    const { stdout, stderr } = await example("logging");
    expect(stdout.trim().split("\n").sort()).toEqual([0, 1, 2, 3, 4].map((i) => `count : ${i}`));
    for (const n of [1, 2, 3, 4, 5]) {
      expect(stderr).toContain(`[INFO/Process-${n}] child process calling the target`);
      expect(stderr).toContain(`[INFO/Process-${n}] process exiting with exitcode 0`);
      expect(stderr).toContain(`[INFO/MainProcess] calling join() for process Process-${n}`);
    }
  });

  it("pool: map, apply, and their async forms", async () => {
    const { stdout } = await example("pool");
    expect(stdout.trim().split("\n")).toEqual([
      "[ 1, 4, 9, 16, 25 ]",
      "100",
      "map ready: false",
      "[ 1, 4, 9, 16, 25 ]",
      "map ready: true",
      "apply ready: false",
      "100",
      "apply ready: true",
      "callback: [1,8,27,64,125]",
    ]);
  });

  it("executor: asCompleted over a local HTTP server, the failing page reported", async () => {
    const { stdout } = await example("executor");
    const lines = stdout.trim().split("\n");
    // In order of completion: the slow page last.
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe("'/big' page is 100000 bytes");
    expect(lines).toContain("'/small' page is 1000 bytes");
    expect(lines.some((l) => /^'\/missing' page generated an exception: HTTP 404/.test(l))).toBe(true);
  });
});
