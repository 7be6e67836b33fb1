// `ipc-sampler clean` between real processes: owners that live, owners that
// were SIGKILLed, and a cleaner that may not remove what it finds.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";

const CLI = new URL("../dist/cli.js", import.meta.url).pathname;
const POSIX = new URL("../../../packages/posix/dist/index.js", import.meta.url).href;
const prefix = `ipcs-cl${process.pid}-`;
const children = new Set<ChildProcess>();
const made: string[] = [];

afterEach(() => {
  for (const c of children) c.kill("SIGKILL");
  children.clear();
});
afterAll(() => {
  for (const p of made) rmSync(p, { recursive: true, force: true });
});

/** A process that creates a segment and a journal directory (named as the mmap transport names its own) with the kinds, then waits to be killed. */
async function owner(name: string, directory: string, mode = 0o600): Promise<ChildProcess> {
  const script = `const { segments, journals } = await import(${JSON.stringify(POSIX)});
segments.create(${JSON.stringify(name)}, { prefix: ${JSON.stringify(prefix)}, mode: ${mode} });
journals.create(${JSON.stringify("mmap-" + name)}, { prefix: ${JSON.stringify(prefix)}, directory: ${JSON.stringify(directory)} });
process.stdout.write("ready\\n");
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  made.push(`/dev/shm/${prefix}${name}`, path.join(directory, `${prefix}mmap-${name}`));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (t: Buffer) => t.toString().includes("ready") && resolve());
    child.once("exit", () => reject(new Error("owner exited early")));
  });
  return child;
}

function run(args: string[], wrap: string[] = []) {
  const argv = [...wrap, process.execPath, CLI, "clean", "--prefix", prefix, "--min-age-ms", "0", ...args];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 60_000 });
}

describe("ipc-sampler clean", () => {
  it("lists, dry-runs, then removes only what dead owners left, with a summary line", async () => {
    const live = await owner("live", tmpdir());
    const dead = await owner("dead", tmpdir());
    dead.kill("SIGKILL");
    await new Promise((r) => dead.once("exit", r));

    const listed = run(["--list"]);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`live\\s+segment\\s+${prefix}live`));
    expect(listed.stdout).toMatch(new RegExp(`stale\\s+segment\\s+${prefix}dead`));
    expect(listed.stdout).toMatch(/2 stale, \d+ kept/);

    const dry = run(["--dry-run"]);
    expect(dry.stdout).toMatch(new RegExp(`would remove\\s+journal\\s+.*${prefix}mmap-dead`));
    expect(existsSync(`/dev/shm/${prefix}dead`)).toBe(true);

    const done = run([]);
    expect(done.status).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`removed\\s+segment\\s+${prefix}dead`));
    expect(done.stdout).toMatch(/^2 removed, \d+ kept \(owner alive or too young\), 0 could not be removed/m);
    expect(existsSync(`/dev/shm/${prefix}dead`)).toBe(false);
    expect(existsSync(`/dev/shm/${prefix}live`)).toBe(true);
    live.kill("SIGKILL");
  });

  const asNobody = process.getuid?.() === 0 && spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "true"]).status === 0;
  it.skipIf(!asNobody)(`goes on past what it may not remove and says why${asNobody ? "" : " — skipped: needs root and setpriv to run as another user"}`, async () => {
    // A root-owned stale segment another user may read (0644) but not remove (/dev/shm is sticky).
    const dir = mkdtempSync(path.join(tmpdir(), "ipcs-clean-"));
    made.push(dir);
    const dead = await owner("rootowned", dir, 0o644);
    dead.kill("SIGKILL");
    await new Promise((r) => dead.once("exit", r));
    const r = run([], ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`failed\\s+segment\\s+${prefix}rootowned\\s+\\((EACCES|EPERM): cannot remove`));
    expect(r.stdout).toMatch(/\d+ removed, \d+ kept \(owner alive or too young\), [1-9]\d* could not be removed/);
  });
});
