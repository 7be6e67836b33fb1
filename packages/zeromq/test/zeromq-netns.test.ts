import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines, netnsSkipReason, twoHosts } from "../../../tests/helpers/netns.js";

// Two hosts on one machine: network namespaces joined by a veth pair, and a
// UTS namespace so the producers also report another host name. The receiver
// then treats them as remote: no pid checks, only what reaches it over TCP.
const DIST = new URL("../dist/index.js", import.meta.url).href;
const tag = `ipcs${process.pid % 100000}`;
const ADDR_A = "10.213.7.1";
const ADDR_B = "10.213.7.2";

const hosts = twoHosts(tag, ADDR_A, ADDR_B);
const skipReason = netnsSkipReason(tag);
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
    const problem = hosts.up();
    if (problem) {
      hosts.down();
      throw new Error(`cannot set up the namespaces: ${problem}`);
    }
  });
  afterAll(() => {
    for (const c of children) c.kill("SIGKILL");
    children.clear();
    hosts.down();
  });

  it("carries every message from producers on another host, and each goodbye", async () => {
    const receiver = inNamespace(hosts.a, undefined, receiverCode(2));
    const next = jsonLines(receiver);
    const address = (await next()) as { endpoint: string };
    expect(address.endpoint).toMatch(new RegExp(`^tcp://${ADDR_A.replace(/\./g, "\\.")}:\\d+$`));
    const producers = [0, 1].map(() => inNamespace(hosts.b, "elsewhere", producerCode(address, 20_000, false)));
    const summary = await next();
    expect(summary).toMatchObject({ counts: { 0: 20_000, 1: 20_000 }, bad: 0, lost: [], producers: { attached: 2, closed: 2, lost: 0 } });
    for (const p of producers) expect(await new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once("exit", r)))).toBe(0);
  }, 60_000);

  it("reports a remote producer killed with SIGKILL as lost, keeping what it sent", async () => {
    const receiver = inNamespace(hosts.a, undefined, receiverCode(1));
    const next = jsonLines(receiver);
    const address = await next();
    const producer = inNamespace(hosts.b, "elsewhere", producerCode(address, 1000, true));
    await jsonLines(producer)(); // everything handed to libzmq
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
