import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Two hosts on one machine: network namespaces joined by a veth pair, and a
// UTS namespace so the producers also report another host name. The receiver
// then treats them as remote: no pid checks, only what reaches it over TCP.
const DIST = new URL("../dist/index.js", import.meta.url).href;
const tag = `ipcs${process.pid % 100000}`;
const HOST_A = `${tag}a`;
const HOST_B = `${tag}b`;
const ADDR_A = "10.213.7.1";
const ADDR_B = "10.213.7.2";

function sh(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim() };
}

function setUp(): string | undefined {
  const steps = [
    ["ip", "netns", "add", HOST_A],
    ["ip", "netns", "add", HOST_B],
    ["ip", "link", "add", `${tag}x`, "netns", HOST_A, "type", "veth", "peer", "name", `${tag}y`, "netns", HOST_B],
    ["ip", "-n", HOST_A, "addr", "add", `${ADDR_A}/24`, "dev", `${tag}x`],
    ["ip", "-n", HOST_B, "addr", "add", `${ADDR_B}/24`, "dev", `${tag}y`],
    ["ip", "-n", HOST_A, "link", "set", `${tag}x`, "up"],
    ["ip", "-n", HOST_B, "link", "set", `${tag}y`, "up"],
    ["ip", "-n", HOST_A, "link", "set", "lo", "up"],
    ["ip", "-n", HOST_B, "link", "set", "lo", "up"],
  ];
  for (const s of steps) {
    const r = sh(s);
    if (!r.ok) return `${s.join(" ")}: ${r.out}`;
  }
  return undefined;
}

function tearDown(): void {
  sh(["ip", "netns", "del", HOST_A]);
  sh(["ip", "netns", "del", HOST_B]); // the veth pair goes with its namespaces
}

const skipReason = (() => {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return "needs root on Linux (ip netns)";
  const r = sh(["ip", "netns", "add", `${tag}probe`]);
  if (!r.ok) return `ip netns is not available here: ${r.out}`;
  sh(["ip", "netns", "del", `${tag}probe`]);
  return undefined;
})();
if (skipReason) console.warn(`zeromq across network namespaces: skipped (${skipReason})`);

const children = new Set<ChildProcess>();

/** Runs a module script inside a namespace (and, for producers, a UTS namespace with another host name). */
function inNamespace(ns: string, host: string | undefined, code: string): ChildProcess {
  const node = [process.execPath, "--input-type=module", "-e", code];
  const argv = host ? ["unshare", "--uts", "sh", "-c", `hostname ${host} && exec ip netns exec ${ns} "$@"`, "sh", ...node] : ["ip", "netns", "exec", ns, ...node];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  child.on("exit", () => clearTimeout(killer));
  return child;
}

/** Lines the child prints, as parsed JSON, one promise per line in order. */
function lines(child: ChildProcess): () => Promise<Record<string, unknown>> {
  const queue: string[] = [];
  const waiting: Array<(s: string) => void> = [];
  let rest = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    rest += d;
    let i;
    while ((i = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line);
      else queue.push(line);
    }
  });
  return () =>
    new Promise((resolve, reject) => {
      const take = (s: string) => resolve(JSON.parse(s) as Record<string, unknown>);
      const q = queue.shift();
      if (q !== undefined) return take(q);
      waiting.push(take);
      child.once("exit", (c, sig) => reject(new Error(`process exited (${c ?? sig}) before printing`)));
    });
}

/** The shared secret of both hosts: a non-loopback bind needs one (CURVE). */
const SECRET = "netns-test-secret-0123456789";

/** A receiver on host A: prints its address, then a summary of what arrived. */
const receiverCode = (producers: number) => `
  const { zeromqTransport } = await import(${JSON.stringify(DIST)});
  const r = await zeromqTransport.listen({ listen: "tcp://${ADDR_A}:0", secret: ${JSON.stringify(SECRET)}, expectedProducers: ${producers}, onPeerLost: (e) => lost.push(e.code) });
  const lost = [];
  console.log(JSON.stringify(r.address));
  const counts = {};
  let bad = 0;
  for await (const b of r.batches()) {
    for (let j = 0; j < b.count; j++) {
      const off = b.offsets[2 * j], len = b.offsets[2 * j + 1];
      const k = counts[b.producer] ?? 0;
      if (len !== 100 || Buffer.from(b.data.buffer, b.data.byteOffset + off, 4).readUInt32LE(0) !== k) bad++;
      counts[b.producer] = k + 1;
    }
  }
  console.log(JSON.stringify({ counts, bad, lost, producers: r.producers }));
  await r.close();
`;

/** A producer on host B: sends `n` messages numbered from 0 (then waits forever if `hang`). */
const producerCode = (address: unknown, n: number, hang: boolean) => `
  const { zeromqTransport } = await import(${JSON.stringify(DIST)});
  const s = await zeromqTransport.connect(${JSON.stringify(address)}, { secret: ${JSON.stringify(SECRET)} });
  const m = Buffer.alloc(100);
  for (let k = 0; k < ${n}; k++) {
    m.writeUInt32LE(k, 0);
    if (!s.write(m)) await s.drain();
  }
  ${hang ? `await s.drain(); console.log("{}"); setInterval(() => {}, 1000);` : "await s.close();"}
`;

describe.skipIf(skipReason !== undefined)("zeromq between two network namespaces", () => {
  beforeAll(() => {
    const problem = setUp();
    if (problem) {
      tearDown();
      throw new Error(`cannot set up the namespaces: ${problem}`);
    }
  });
  afterAll(() => {
    for (const c of children) c.kill("SIGKILL");
    children.clear();
    tearDown();
  });

  it("carries every message from producers on another host, and each goodbye", async () => {
    const receiver = inNamespace(HOST_A, undefined, receiverCode(2));
    const next = lines(receiver);
    const address = (await next()) as { endpoint: string };
    expect(address.endpoint).toMatch(new RegExp(`^tcp://${ADDR_A.replace(/\./g, "\\.")}:\\d+$`));
    const producers = [0, 1].map(() => inNamespace(HOST_B, "elsewhere", producerCode(address, 20_000, false)));
    const summary = await next();
    expect(summary).toMatchObject({ counts: { 0: 20_000, 1: 20_000 }, bad: 0, lost: [], producers: { attached: 2, closed: 2, lost: 0 } });
    for (const p of producers) expect(await new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once("exit", r)))).toBe(0);
  }, 60_000);

  it("reports a remote producer killed with SIGKILL as lost, keeping what it sent", async () => {
    const receiver = inNamespace(HOST_A, undefined, receiverCode(1));
    const next = lines(receiver);
    const address = await next();
    const producer = inNamespace(HOST_B, "elsewhere", producerCode(address, 1000, true));
    await lines(producer)(); // everything handed to libzmq
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    producer.kill("SIGKILL");
    const summary = await next();
    const took = Date.now() - killedAt;
    expect(summary).toMatchObject({ counts: { 0: 1000 }, bad: 0, lost: ["EPEERGONE"], producers: { attached: 1, closed: 0, lost: 1 } });
    // No pid is asked: its process's death closed its connections, so the
    // ROUTER can no longer reach its DEALER (a probe), well before the
    // heartbeat grace period would tell.
    expect(took).toBeLessThan(15_000);
  }, 60_000);
});
