import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { jsonLines, netnsSkipReason, sh, twoHosts } from "../../../tests/helpers/netns.js";

// Pool workers on another host: `ipc-sampler worker --connect tcp://…` dials a
// pool (test/remote/pool.mjs) over ZeroMQ with CURVE from a shared secret.
// Once over loopback (runs everywhere), once between two network namespaces
// joined by a veth pair (root only), where losing the worker's host is
// either its process killed or its link taken down.
const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const POOL = fileURLToPath(new URL("remote/pool.mjs", import.meta.url));
const EXECUTOR = fileURLToPath(new URL("remote/executor.mjs", import.meta.url));
const SECRET = "remote-workers-test-secret-0123456789";

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) c.kill("SIGKILL");
  children.clear();
});

function start(argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { stderrText: () => string } {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } }) as ChildProcess & { stderrText: () => string };
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  child.stderrText = () => err;
  children.add(child);
  const killer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  child.on("exit", () => clearTimeout(killer));
  return child;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(child.exitCode) : child.once("exit", (c) => r(c))));
}

const node = (...args: string[]) => [process.execPath, ...args];
const SUM = Array.from({ length: 1000 }, (_, i) => i * i).reduce((a, b) => a + b, 0);

describe("remote pool workers over loopback", () => {
  it("serves the pool's tasks and exits 0 when the pool closes", async () => {
    const pool = start(node(POOL, "tcp://127.0.0.1:0", "close"), { IPCS_SECRET: SECRET });
    const next = jsonLines(pool);
    const { endpoint } = await next();
    const worker = start(node(CLI, "worker", "--connect", endpoint), { IPCS_SECRET: SECRET });
    expect(await next()).toEqual({ sum: SUM, workers: 1 });
    expect(await next()).toEqual({ joined: true });
    expect(await exitOf(worker)).toBe(0);
  }, 60_000);

  it("fails the task of a worker killed with SIGKILL with WorkerLostError, not a hang", async () => {
    const pool = start(node(POOL, "tcp://127.0.0.1:0", "kill"), { IPCS_SECRET: SECRET });
    const next = jsonLines(pool);
    const { endpoint } = await next();
    const worker = start(node(CLI, "worker", "--connect", endpoint), { IPCS_SECRET: SECRET });
    expect((await next()).sum).toBe(SUM);
    await next(); // hanging
    worker.kill("SIGKILL");
    const { error } = await next();
    expect(error).toMatchObject({ name: "WorkerLostError", code: "EPEERGONE" });
    expect(error.message).toMatch(/RemoteWorker-1 .* was lost .* while running hang\(\)/);
  }, 60_000);

  it("refuses a worker with the wrong secret", async () => {
    const pool = start(node(POOL, "tcp://127.0.0.1:0", "none"), { IPCS_SECRET: SECRET });
    const next = jsonLines(pool);
    const { endpoint } = await next();
    const worker = start(node(CLI, "worker", "--connect", endpoint, "--timeout-ms", "1500"), { IPCS_SECRET: `${SECRET}-wrong` });
    expect(await exitOf(worker)).toBe(1);
    expect(worker.stderrText()).toMatch(/ETIMEDOUT|wrong secret/);
    expect(await next()).toEqual({ waited: "ETIMEDOUT", workers: 0 });
  }, 60_000);

  it("serves an Executor's futures the same way", async () => {
    const executor = start(node(EXECUTOR, "tcp://127.0.0.1:0"), { IPCS_SECRET: SECRET });
    const next = jsonLines(executor);
    const { endpoint } = await next();
    const worker = start(node(CLI, "worker", "--connect", endpoint), { IPCS_SECRET: SECRET });
    expect(await next()).toEqual({ results: [9, 16, 25] });
    expect(await next()).toEqual({ shutdown: true });
    expect(await exitOf(worker)).toBe(0);
  }, 60_000);

  it("needs --connect, and a secret it can read", () => {
    const r = spawnSync(process.execPath, [CLI, "worker"], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--connect tcp:\/\/host:port is required/);
  });
});

// ---- two hosts ----------------------------------------------------------------

const ADDR_A = "10.213.9.1";
const ADDR_B = "10.213.9.2";
const tag = `ipcw${process.pid % 100000}`;
const hosts = twoHosts(tag, ADDR_A, ADDR_B);
const skipReason = netnsSkipReason(tag);
if (skipReason) console.warn(`remote workers across network namespaces: skipped (${skipReason})`);

describe.skipIf(skipReason !== undefined)("remote pool workers between two network namespaces", () => {
  afterAll(() => hosts.down());
  const inNs = (ns: string, argv: string[], env: NodeJS.ProcessEnv) => start(["ip", "netns", "exec", ns, ...argv], env);

  it.each([
    ["its process is killed", () => "kill"],
    ["its link goes down", () => "link"],
  ])("fails the running task when the worker's host is lost: %s", async (_, how) => {
    hosts.down();
    const problem = hosts.up();
    if (problem) throw new Error(`cannot set up the namespaces: ${problem}`);
    const pool = inNs(hosts.a, node(POOL, `tcp://${ADDR_A}:0`, "kill"), { IPCS_SECRET: SECRET });
    const next = jsonLines(pool);
    const { endpoint } = await next();
    expect(endpoint).toMatch(new RegExp(`^tcp://${ADDR_A.replace(/\./g, "\\.")}:\\d+$`));
    const worker = inNs(hosts.b, node(CLI, "worker", "--connect", endpoint), { IPCS_SECRET: SECRET });
    expect(await next()).toEqual({ sum: SUM, workers: 1 });
    await next(); // hanging
    const lostAt = Date.now();
    if (how() === "kill") worker.kill("SIGKILL");
    else expect(sh(["ip", "-n", hosts.b, "link", "set", hosts.devB, "down"]).ok).toBe(true);
    const { error } = await next();
    expect(error).toMatchObject({ name: "WorkerLostError", code: "EPEERGONE" });
    expect(Date.now() - lostAt).toBeLessThan(20_000);
    // The worker whose link went down gives its pool up too (silence), and exits 1.
    if (how() === "link") expect(await exitOf(worker)).toBe(1);
  }, 60_000);
});
