// Every package installs and works on its own, outside this repository:
// each publishable package under packages/* and apps/* is packed as it is
// published (prebuilt binaries included), the tarballs are installed with
// plain npm into an empty project in the system's temporary directory (no
// workspace, no patches, only the npm registry), and each README's example
// runs there as a receiver process that starts its sender process; a
// package with a `bin` runs its command instead.
//   pass 1: a machine with a compiler; the native addons are built from the
//           packed source (the fallback when no prebuilt binary fits);
//   pass 2: no compiler, make or python3 on PATH; the prebuilt binaries load.
// Set IPC_SAMPLER_TEST_NODE=/path/to/node to install and run everything with
// another Node (the prebuilt binaries are then made for it too).
// Takes 3 to 5 minutes on 2 busy cores, most of it compiling (twice: the
// prebuilt binaries, then pass 1).
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, listTarball, pack, publishablePackages, readFromTarball, readmeExample, ROOT, PNPM } from "./standalone/packages.js";

const NODE = realpathSync(process.env.IPC_SAMPLER_TEST_NODE ?? process.execPath);
const NPM_CLI = realpathSync(path.join(path.dirname(realpathSync(process.execPath)), "npm"));
const packages = publishablePackages();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command, killing it (and its process group) after `timeoutMs`. */
function run(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, options.timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let work: string;
const tarballs = new Map<string, string>();

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "ipcs-standalone-"));
  // The prebuilt binaries the packages ship, for the Node under test.
  const others = NODE === realpathSync(process.execPath) ? [] : [NODE];
  execFileSync("npx", [...PNPM, "-r", "--if-present", "run", "prebuilds", ...others], { cwd: ROOT, env: cleanEnv(), stdio: "pipe", maxBuffer: 64 << 20 });
  mkdirSync(path.join(work, "tarballs"));
  for (const p of packages) tarballs.set(p.name, pack(p, path.join(work, "tarballs"), cleanEnv()));
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("packed tarballs", () => {
  it("cover every publishable package under packages/* and apps/*", () => {
    expect(packages.length).toBeGreaterThan(0);
    expect([...tarballs.keys()].sort()).toEqual(packages.map((p) => p.name).sort());
  });

  it("include every package the docs' start page tells users to npm install", () => {
    const named = [...readFileSync(path.join(ROOT, "docs", "index.md"), "utf8").matchAll(/^npm install (@ipc-sampler\/[\w-]+)/gm)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(0);
    for (const name of named) expect([...tarballs.keys()], name).toContain(name);
  });

  it("carry the shared metadata and LICENSE (node scripts/package-metadata.mjs --check)", () => {
    execFileSync(process.execPath, [path.join(ROOT, "scripts", "package-metadata.mjs"), "--check"], { cwd: ROOT, stdio: "pipe" });
  });

  for (const p of packages) {
    it(`${p.name}: no workspace: or catalog: range, and a LICENSE, README and built code inside`, () => {
      const tarball = tarballs.get(p.name)!;
      const manifest = readFromTarball(tarball, "package.json");
      expect(manifest).not.toMatch(/"(workspace|catalog):/);
      const files = listTarball(tarball);
      for (const f of ["LICENSE", "README.md", "package.json"]) expect(files, f).toContain(f);
      expect(files.some((f) => f.startsWith("dist/")), "dist/").toBe(true);
      for (const dep of Object.keys(JSON.parse(manifest).dependencies ?? {})) expect(dep, "no dependency on a package that cannot install (mmap-io)").not.toBe("mmap-io");
    });
  }
});

interface Project {
  dir: string;
  env: NodeJS.ProcessEnv;
  ok: boolean;
}

/** A fresh npm project in the temporary directory, with every tarball installed. */
function installProject(name: string, env: NodeJS.ProcessEnv): { dir: string; install: Promise<Run> } {
  const dir = path.join(work, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `standalone-${name}`, private: true, type: "module" }, null, 2));
  const install = run(NODE, [NPM_CLI, "install", "--no-audit", "--no-fund", "--foreground-scripts", ...tarballs.values()], { cwd: dir, env, timeoutMs: 400_000 });
  return { dir, install };
}

/** Saves a package's README example in the project and runs `node receiver.mjs`. */
function exampleTests(project: () => Project | undefined) {
  for (const p of packages) {
    if (p.manifest.bin) {
      for (const bin of Object.keys(p.manifest.bin)) {
        it(`${p.name}: \`${bin}\` runs the scenario over a pipe between processes`, async (ctx) => {
          const installed = project();
          if (!installed?.ok) return ctx.skip("npm install failed (reported above)");
          const command = path.join(installed.dir, "node_modules", ".bin", bin);
          const r = await run(command, ["--transport", "pipe", "--producers", "1", "--messages", "1000", "--round-trips", "0"], { cwd: installed.dir, env: installed.env, timeoutMs: 60_000 });
          expect(r.stderr).toBe("");
          expect(r.code, r.stdout).toBe(0);
          expect(r.stdout).toMatch(/^\s*OK\b/m);
        });
      }
      continue;
    }
    it(`${p.name}: the README example runs between two processes`, async (ctx) => {
      const installed = project();
      if (!installed?.ok) return ctx.skip("npm install failed (reported above)");
      const { dir, env } = installed;
      const example = readmeExample(p.dir);
      expect([...example.files.keys()], `${p.name}/README.md has a receiver.mjs and a sender.mjs`).toEqual(expect.arrayContaining(["receiver.mjs", "sender.mjs"]));
      const at = path.join(dir, "examples", p.name.replace("/", "+"));
      mkdirSync(at, { recursive: true });
      for (const [file, text] of example.files) writeFileSync(path.join(at, file), text);
      const r = await run(NODE, ["receiver.mjs"], { cwd: at, env, timeoutMs: 30_000 });
      expect(r.stderr).toBe("");
      expect(r.code, r.stdout).toBe(0);
      if (example.output !== undefined) expect(r.stdout.trimEnd()).toBe(example.output);
      // And as CommonJS, for require() users.
      const cjs = await run(NODE, ["-e", `require(${JSON.stringify(p.name)})`], { cwd: dir, env, timeoutMs: 30_000 });
      expect(cjs.stderr).toBe("");
      expect(cjs.code).toBe(0);
    });
  }
}

describe.sequential("pass 1: npm install with a compiler, native code built from the packed source", () => {
  const env = () => cleanEnv({ PATH: `${binDir("bin-full")}:${process.env.PATH}`, IPC_SAMPLER_BUILD_FROM_SOURCE: "1" });
  let project: Project | undefined;

  it("npm install <every tarball> succeeds", async () => {
    const e = env();
    const { dir, install } = installProject("with-compiler", e);
    const r = await install;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    project = { dir, env: e, ok: true };
    for (const addon of ["ipc_posix", "mmap_io"]) expect(r.stdout, `${addon} compiled`).toContain(`COPY Release/${addon}.node`);
    expect(r.stdout).not.toMatch(/using the prebuilt/);
  }, 420_000);

  exampleTests(() => project);
});

describe.sequential("pass 2: npm install with no compiler on PATH, prebuilt binaries", () => {
  let project: Project | undefined;

  it("no compiler, make or python3 can be found", async () => {
    const e = cleanEnv({ PATH: binDir("bin-bare") });
    const r = await run("/bin/sh", ["-c", "command -v cc gcc g++ c++ clang make python3 python; echo done"], { cwd: work, env: e, timeoutMs: 10_000 });
    expect(r.stdout.trim()).toBe("done");
  });

  it("npm install <every tarball> succeeds and uses the prebuilt binaries", async () => {
    const e = cleanEnv({ PATH: binDir("bin-bare") });
    const { dir, install } = installProject("without-compiler", e);
    const r = await install;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    project = { dir, env: e, ok: true };
    expect(r.stdout).toMatch(/using the prebuilt/);
    expect(r.stdout + r.stderr).not.toMatch(/gyp info|COPY Release/);
  }, 420_000);

  exampleTests(() => project);
});

/** A directory holding only `node` (the Node under test), `npm` and `sh`: put first on PATH, or alone. */
function binDir(name: string): string {
  const dir = path.join(work, name);
  try {
    mkdirSync(dir);
    symlinkSync(NODE, path.join(dir, "node"));
    symlinkSync(NPM_CLI, path.join(dir, "npm"));
    symlinkSync("/bin/sh", path.join(dir, "sh")); // npm runs install scripts with sh
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return dir;
}
