// Who may attach to a socket receiver: SO_PEERCRED for Unix sockets, a
// shared-secret handshake for TCP, a deadline for connections that never
// speak and a cap on connections. Every peer is its own process.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeAfterEach, trackProcess } from "@ipc-sampler/core/conformance";
import { describe, expect, it } from "vitest";
import { ChannelError, type Receiver } from "@ipc-sampler/core";
import { tcpTransport, udsTransport } from "../src/index.js";

const DIST = new URL("../dist/index.js", import.meta.url).href;
const receivers = closeAfterEach();

/** Runs `body` (ESM; the package is `S`) in a new node process, optionally as another user; resolves with its stdout. */
function node(body: string, options: { uid?: number; onOutput?: (out: string) => void } = {}): Promise<string> {
  // `net` comes in by a static import: a dynamic one inside this file's strings would be rewritten by the test runner.
  const src = `import * as S from ${JSON.stringify(DIST)};\nimport * as net from "node:net";\n${body}`;
  const ids = options.uid === undefined ? {} : { uid: options.uid, gid: options.uid };
  const child = spawn(process.execPath, ["--input-type=module", "-e", src], { stdio: ["ignore", "pipe", "pipe"], ...ids });
  trackProcess(child);
  let out = "";
  child.stdout!.on("data", (d) => {
    out += d;
    options.onOutput?.(out);
  });
  child.stderr!.on("data", (d) => (out += d));
  setTimeout(() => child.kill("SIGKILL"), 20_000).unref();
  return new Promise((resolve) => child.on("close", () => resolve(out.trim())));
}

/** A producer that sends `n` messages and closes; prints "sent" or the error code. */
const producer = (transport: string, address: unknown, n: number, secret?: string) => `
  try {
    const s = await S.${transport}.connect(${JSON.stringify(address)}, ${secret === undefined ? "{}" : `{ secret: ${JSON.stringify(secret)} }`});
    for (let i = 0; i < ${n}; i++) await s.send(new Uint8Array([i]));
    await s.close();
    console.log("sent");
  } catch (e) { console.log(e.code ?? e.message); }`;

/** A raw peer that speaks the framing directly, without the handshake: one 1-byte frame, then goodbye. */
const rawPeer = (connectArgs: string) => `
  const s = net.connect(${connectArgs}, () => {
    const b = Buffer.alloc(13); b.writeUInt32LE(1, 0); b[4] = 7; b.writeUInt32LE(0xffffffff, 8);
    s.end(b);
  });
  s.on("data", () => {}); s.on("error", () => {}); s.on("close", () => console.log("closed"));`;

async function collect(r: Receiver): Promise<number> {
  let n = 0;
  for await (const b of r.batches()) n += b.count;
  return n;
}

const canSwitchUser = process.getuid?.() === 0;

describe("uds: who may attach", () => {
  it.skipIf(!canSwitchUser)("a process of another user is refused by SO_PEERCRED even when the file mode lets it connect; the owner's producer flows", async () => {
    const refused: ChannelError[] = [];
    const r = await udsTransport.listen({ mode: 0o666, expectedProducers: 1 });
    receivers.push(r);
    const stranger = await node(producer("udsTransport", r.address, 3), { uid: 65534 });
    expect(stranger).not.toBe("sent");
    const [mine, count] = await Promise.all([node(producer("udsTransport", r.address, 5)), collect(r)]);
    expect(mine).toBe("sent");
    expect(count).toBe(5);
    expect(r.producers).toMatchObject({ attached: 1, closed: 1, lost: 0 });
    void refused;
  }, 30_000);

  it.skipIf(!canSwitchUser)('allowedUids: "any" widens it to the file mode', async () => {
    const r = await udsTransport.listen({ mode: 0o666, expectedProducers: 1, allowedUids: "any" });
    receivers.push(r);
    const [stranger, count] = await Promise.all([node(producer("udsTransport", r.address, 3), { uid: 65534 }), collect(r)]);
    expect(stranger).toBe("sent");
    expect(count).toBe(3);
  }, 30_000);

  it("a connection that never speaks is closed at the handshake deadline and never counts; iteration ends with the real producer", async () => {
    const r = await udsTransport.listen({ expectedProducers: 1, handshakeTimeoutMs: 300 });
    receivers.push(r);
    const path = (r.address as unknown as { path: string }).path;
    const silent = node(`const s = net.connect(${JSON.stringify(path)}); s.on("data", () => {}); s.on("error", () => {}); s.on("close", () => console.log("closed"));`);
    const [mine, count] = await Promise.all([node(producer("udsTransport", r.address, 4)), collect(r)]);
    expect(mine).toBe("sent");
    expect(count).toBe(4);
    expect(await silent).toBe("closed");
    expect(r.producers).toMatchObject({ attached: 1, closed: 1 });
  }, 30_000);

  it("an existing path is EEXIST, not a system-call error", async () => {
    const r = await udsTransport.listen({});
    receivers.push(r);
    await expect(udsTransport.listen({ path: (r.address as unknown as { path: string }).path })).rejects.toMatchObject({ code: "EEXIST" });
  });
});

describe("tcp: who may attach", () => {
  it("binding a non-loopback address without a secret is refused with EACCES", async () => {
    await expect(tcpTransport.listen({ host: "0.0.0.0" })).rejects.toMatchObject({ code: "EACCES", message: expect.stringMatching(/pass a secret/) });
    await expect(tcpTransport.listen({ host: "::" })).rejects.toMatchObject({ code: "EACCES" });
  });

  it("with a secret: the right secret flows, a wrong or missing one is refused and never counts, a raw peer without the handshake never counts", async () => {
    const secret = randomBytes(24).toString("hex");
    const r = await tcpTransport.listen({ secret, expectedProducers: 1 });
    receivers.push(r);
    const a = r.address as unknown as { host: string; port: number };
    expect(await node(producer("tcpTransport", r.address, 2, "x".repeat(32)))).toBe("EACCES");
    expect(await node(producer("tcpTransport", r.address, 2))).toBe("EACCES");
    expect(await node(rawPeer(`{ host: ${JSON.stringify(a.host)}, port: ${a.port} }`))).toBe("closed");
    const [mine, count] = await Promise.all([node(producer("tcpTransport", r.address, 6, secret)), collect(r)]);
    expect(mine).toBe("sent");
    expect(count).toBe(6);
    expect(r.producers).toMatchObject({ attached: 1, closed: 1, lost: 0 });
  }, 30_000);

  it("on loopback without a secret, a raw peer that skips the handshake is closed and never counts", async () => {
    const r = await tcpTransport.listen({ expectedProducers: 1, handshakeTimeoutMs: 500 });
    receivers.push(r);
    const a = r.address as unknown as { host: string; port: number };
    expect(await node(rawPeer(`{ host: ${JSON.stringify(a.host)}, port: ${a.port} }`))).toBe("closed");
    const [mine, count] = await Promise.all([node(producer("tcpTransport", r.address, 2)), collect(r)]);
    expect(mine).toBe("sent");
    expect(count).toBe(2);
    expect(r.producers).toMatchObject({ attached: 1 });
  }, 30_000);

  it("maxConnections: connections over the limit are closed at accept", async () => {
    const r = await tcpTransport.listen({ expectedProducers: 1, maxConnections: 1, handshakeTimeoutMs: 10_000 });
    receivers.push(r);
    const a = r.address as unknown as { host: string; port: number };
    // The first holds the only place (silent, until its deadline); the second is closed at once.
    let connected!: () => void;
    const holding = new Promise<void>((res) => (connected = res));
    const holder = node(`const s = net.connect(${a.port}, ${JSON.stringify(a.host)}, () => console.log("connected")); s.on("data", () => {}); s.on("error", () => {}); s.on("close", () => console.log("closed"));`, {
      onOutput: (out) => out.includes("connected") && connected(),
    });
    // Connected in the kernel; then a moment for this process's receiver to accept it (a second producer takes far longer to start).
    await holding;
    await new Promise((res) => setTimeout(res, 100));
    const t0 = Date.now();
    const second = await node(producer("tcpTransport", r.address, 1));
    expect(second).not.toBe("sent");
    // Refused at accept, long before the holder's 10 s deadline frees the place (the margin is for a loaded machine).
    expect(Date.now() - t0).toBeLessThan(8_000);
    await holder;
  }, 40_000);
});
