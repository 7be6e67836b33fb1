// Two hosts on one machine: network namespaces joined by a veth pair, and a
// UTS namespace so the producers also report another host name. The receiver
// then treats them as remote: no pid checks, only what reaches it over TCP.
// Both network transports are checked there: ZeroMQ over tcp (CURVE keys
// derived from a shared secret) and the socket package's TCP (an HMAC
// challenge with the shared secret): the right secret flows, a wrong or
// missing one is refused with a typed error while the receiver keeps its
// good producer, and a non-loopback bind without a secret is EACCES.
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitOf } from "../packages/core/src/conformance/processes.ts";
import { jsonLines as lines, netnsSkipReason, twoHosts } from "./helpers/netns.js";

const dist = (pkg: string) => new URL(`../packages/${pkg}/dist/index.js`, import.meta.url).href;
const tag = `ipcs${process.pid % 100000}`;
const ADDR_A = "10.213.7.1";
const ADDR_B = "10.213.7.2";
const hosts = twoHosts(tag, ADDR_A, ADDR_B);
const HOST_A = hosts.a;
const HOST_B = hosts.b;
const skipReason = netnsSkipReason(tag);
if (skipReason) console.warn(`network transports across network namespaces: skipped (${skipReason})`);

const children = new Set<ChildProcess>();

/** Runs a module script inside a namespace (and, for producers, a UTS namespace with another host name). */
function inNamespace(ns: string, host: string | undefined, code: string): ChildProcess {
  const node = [process.execPath, "--input-type=module", "-e", code];
  const argv = host ? ["unshare", "--uts", "sh", "-c", `hostname ${host} && exec ip netns exec ${ns} "$@"`, "sh", ...node] : ["ip", "netns", "exec", ns, ...node];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
  children.add(child);
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  child.on("exit", () => clearTimeout(killer));
  return child;
}

/** The shared secret of both hosts: a non-loopback bind needs one. */
const SECRET = "netns-test-secret-0123456789";

/** How each network transport listens on host A and connects from host B. */
interface Net {
  name: string;
  module: string;
  exportName: string;
  listen: (secret: string | undefined) => Record<string, unknown>;
  /** The code a producer with the wrong secret gets (and one without, from the missing one). */
  refusedWrong: string;
  refusedMissing: string;
}

const NETS: Net[] = [
  // CURVE: a producer without a secret is refused before it connects; one with the wrong secret never completes the handshake.
  { name: "zeromq tcp (CURVE)", module: dist("zeromq"), exportName: "zeromqTransport", listen: (secret) => ({ listen: `tcp://${ADDR_A}:0`, ...(secret ? { secret } : {}) }), refusedWrong: "ETIMEDOUT", refusedMissing: "EACCES" },
  // The HMAC challenge: the receiver proves the secret back, so either side refuses a wrong or missing one.
  { name: "tcp (HMAC handshake)", module: dist("socket"), exportName: "tcpTransport", listen: (secret) => ({ host: ADDR_A, port: 0, ...(secret ? { secret } : {}) }), refusedWrong: "EACCES", refusedMissing: "EACCES" },
];

/** A receiver on host A: prints its address, then a summary of what arrived. */
const receiverCode = (net: Net, producers: number) => `
  const t = (await import(${JSON.stringify(net.module)}))[${JSON.stringify(net.exportName)}];
  const lost = [];
  const r = await t.listen({ ...${JSON.stringify(net.listen(SECRET))}, expectedProducers: ${producers}, onPeerLost: (e) => lost.push(e.code) });
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

/**
 * A producer on host B: sends `n` messages numbered from 0 with `secret`
 * (none: undefined) and closes; prints "sent" or the error code. With
 * `pause`, it prints {"half":true} after half and waits for a line on stdin;
 * with `hang`, it waits forever instead of closing.
 */
const producerCode = (net: Net, address: unknown, n: number, secret: string | undefined, o: { pause?: boolean; hang?: boolean } = {}) => `
  const t = (await import(${JSON.stringify(net.module)}))[${JSON.stringify(net.exportName)}];
  try {
    const s = await t.connect(${JSON.stringify(address)}, { timeoutMs: 3000${secret === undefined ? "" : `, secret: ${JSON.stringify(secret)}`} });
    const m = Buffer.alloc(100);
    for (let k = 0; k < ${n}; k++) {
      m.writeUInt32LE(k, 0);
      if (!s.write(m)) await s.drain();
      ${o.pause ? `if (k === ${Math.floor(n / 2)}) { await s.drain(); console.log(JSON.stringify({ half: true })); await new Promise((r) => process.stdin.once("data", r)); }` : ""}
    }
    ${o.hang ? `await s.drain(); console.log("{}"); setInterval(() => {}, 1000);` : `await s.close(); console.log(JSON.stringify({ result: "sent" }));`}
  } catch (e) { console.log(JSON.stringify({ result: e.code ?? e.message })); }
`;

describe.skipIf(skipReason !== undefined)("network transports between two network namespaces", () => {
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

  for (const net of NETS) {
    it(`${net.name}: binding host A's address without a secret is refused with EACCES`, async () => {
      const code = `
        const t = (await import(${JSON.stringify(net.module)}))[${JSON.stringify(net.exportName)}];
        try { const r = await t.listen(${JSON.stringify(net.listen(undefined))}); console.log(JSON.stringify({ result: "listening" })); await r.close(); }
        catch (e) { console.log(JSON.stringify({ result: e.code, message: e.message })); }`;
      const p = inNamespace(HOST_A, undefined, code);
      const out = await lines(p)();
      expect(out.result, String(out.message)).toBe("EACCES");
      expect(out.message).toMatch(/secret/);
      expect(await exitOf(p)).toBe(0);
    }, 30_000);

    it(`${net.name}: the right secret flows from the other host; a wrong or missing one is refused (typed) while the good producer keeps flowing`, async () => {
      const receiver = inNamespace(HOST_A, undefined, receiverCode(net, 1));
      const next = lines(receiver);
      const address = await next();
      expect(JSON.stringify(address)).toContain(ADDR_A);
      const good = inNamespace(HOST_B, "elsewhere", producerCode(net, address, 20_000, SECRET, { pause: true }));
      const goodLine = lines(good);
      expect(await goodLine()).toEqual({ half: true });
      // While the good producer is attached mid-stream, two strangers try.
      const wrong = inNamespace(HOST_B, "elsewhere", producerCode(net, address, 5, "a-wrong-secret-of-some-length"));
      const missing = inNamespace(HOST_B, "elsewhere", producerCode(net, address, 5, undefined));
      const [wrongSays, missingSays] = [lines(wrong), lines(missing)];
      expect(await wrongSays()).toEqual({ result: net.refusedWrong });
      expect(await missingSays()).toEqual({ result: net.refusedMissing });
      good.stdin!.end("go\n");
      expect(await goodLine()).toEqual({ result: "sent" });
      const summary = await next();
      // Refused peers never counted as producers: the receiver's one good producer finished it.
      expect(summary).toMatchObject({ counts: { 0: 20_000 }, bad: 0, lost: [], producers: { attached: 1, closed: 1, lost: 0 } });
      for (const p of [good, wrong, missing, receiver]) expect(await exitOf(p)).toBe(0);
    }, 60_000);
  }

  const zeromq = NETS[0]!;
  it("zeromq tcp: carries every message from two producers on another host, and each goodbye", async () => {
    const receiver = inNamespace(HOST_A, undefined, receiverCode(zeromq, 2));
    const next = lines(receiver);
    const address = (await next()) as { endpoint: string };
    expect(address.endpoint).toMatch(new RegExp(`^tcp://${ADDR_A.replace(/\./g, "\\.")}:\\d+$`));
    const producers = [0, 1].map(() => inNamespace(HOST_B, "elsewhere", producerCode(zeromq, address, 20_000, SECRET)));
    const summary = await next();
    expect(summary).toMatchObject({ counts: { 0: 20_000, 1: 20_000 }, bad: 0, lost: [], producers: { attached: 2, closed: 2, lost: 0 } });
    for (const p of producers) expect(await exitOf(p)).toBe(0);
  }, 60_000);

  it("zeromq tcp: reports a remote producer killed with SIGKILL as lost, keeping what it sent", async () => {
    const receiver = inNamespace(HOST_A, undefined, receiverCode(zeromq, 1));
    const next = lines(receiver);
    const address = await next();
    const producer = inNamespace(HOST_B, "elsewhere", producerCode(zeromq, address, 1000, SECRET, { hang: true }));
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
