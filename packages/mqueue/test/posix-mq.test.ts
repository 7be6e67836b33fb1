import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { killStartedProcesses, readNumbered, runSnippet } from "@ipc-sampler/core/conformance";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { Receiver } from "@ipc-sampler/core";
import { mqExists, mqGetAttr, mqLimits, mqOpen, mqClose } from "@ipc-sampler/posix";
import { mqueueTransport, type MqueueAddress } from "../src/posix-mq.js";

const DIST = new URL("../dist/index.js", import.meta.url).href;
const POSIX = import.meta.resolve("@ipc-sampler/posix");
const receivers: Receiver[] = [];

const run = (code: string, wrap: string[] = []) => runSnippet(code, { wrap });

afterEach(async () => {
  killStartedProcesses();
  for (const r of receivers.splice(0)) await r.close();
});

async function listen(options: Parameters<typeof mqueueTransport.listen>[0] = {}): Promise<Receiver> {
  const r = await mqueueTransport.listen(options);
  receivers.push(r);
  return r;
}

/** Asks a separate process whether the queue exists, through mq_open(3). */
async function existsElsewhere(name: string): Promise<string> {
  const p = run(`
    const { mqOpen, mqClose, mqGetAttr } = await import(${JSON.stringify(POSIX)});
    try {
      const q = mqOpen(${JSON.stringify(name)}, { access: "write" });
      const a = mqGetAttr(q.mqd);
      mqClose(q.mqd);
      console.log("exists " + a.maxmsg + "x" + a.msgsize);
    } catch (e) {
      console.log(e.code);
    }
  `);
  return p.line;
}

/**
 * A producer process that sends `count` messages of `size` bytes, message i
 * filled with i % 251 (see readNumbered), and closes; its line is how many
 * buffers of 64 KiB or more it allocated (Buffer.allocUnsafeSlow) meanwhile.
 */
function numberedProducer(address: unknown, count: number, size: number) {
  return run(`
    const { mqueueTransport } = await import(${JSON.stringify(DIST)});
    const slow = Buffer.allocUnsafeSlow;
    let fresh = 0;
    Buffer.allocUnsafeSlow = (n) => (n >= 64 * 1024 && fresh++, slow(n));
    const s = await mqueueTransport.connect(${JSON.stringify(address)});
    const m = Buffer.alloc(${size});
    for (let i = 0; i < ${count}; i++) {
      m.fill(i % 251);
      if (!s.write(m)) await s.drain();
    }
    await s.close();
    console.log(String(fresh));
  `);
}

describe("mqueue: a real POSIX message queue", () => {
  it("exists in the kernel while the receiver is open, with the advertised attributes, and is gone after close", async () => {
    const r = await mqueueTransport.listen();
    const a = r.address as MqueueAddress;
    expect(a.name).toMatch(/^\/ipcs-/);
    const limits = mqLimits();
    expect(a.maxMessages).toBe(limits.msgMax);
    expect(a.messageSize).toBe(limits.msgsizeMax);
    expect(await existsElsewhere(a.name)).toBe(`exists ${a.maxMessages}x${a.messageSize}`);
    await r.close();
    expect(await existsElsewhere(a.name)).toBe("ENOENT");
  });

  it("is created with mode 0600, visible through a private mqueue mount", async (ctx) => {
    const probe = spawnSync("unshare", ["-m", "true"]);
    if (probe.status !== 0) {
      console.warn("skipping: unshare -m is not permitted here, so no private mqueue mount");
      ctx.skip();
    }
    const r = await listen();
    const a = r.address as MqueueAddress;
    const mnt = mkdtempSync(path.join(tmpdir(), "ipcs-mqmnt-"));
    try {
      const out = spawnSync("unshare", ["-m", "sh", "-c", `mount -t mqueue none "$1" && stat -c '%a %F' "$1$2" && head -c 200 "$1$2"`, "sh", mnt, a.name], { encoding: "utf8", timeout: 10_000 });
      expect(out.stderr).toBe("");
      const [first, rest] = [out.stdout.split("\n")[0], out.stdout.split("\n").slice(1).join("\n")];
      expect(first).toMatch(/^600 /);
      expect(rest).toMatch(/QSIZE:\d+/);
    } finally {
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it("asks for larger queues as given and falls back to the limits when the kernel refuses", async () => {
    // 2^20 messages of 1 MiB is over every limit, root's included.
    const r = await listen({ maxMessages: 1 << 20, messageSize: 1 << 20 });
    const a = r.address as MqueueAddress;
    const q = mqOpen(a.name, { access: "write" });
    try {
      const attr = mqGetAttr(q.mqd);
      expect(attr.maxmsg).toBe(mqLimits().msgMax);
      expect(attr.msgsize).toBe(mqLimits().msgsizeMax);
    } finally {
      mqClose(q.mqd);
    }
  });

  it("splits messages larger than mq_msgsize and reassembles them", async () => {
    const r = await listen({ expectedProducers: 1, messageSize: 128 });
    const a = r.address as MqueueAddress;
    expect(a.messageSize).toBe(128);
    const s = await mqueueTransport.connect(a);
    const big = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
    const small = Uint8Array.of(1, 2, 3);
    const sending = (async () => {
      await s.send(small);
      await s.send(big);
      await s.send(small);
      await s.close();
    })();
    const got: number[][] = [];
    for await (const m of r) got.push(Array.from(m));
    await sending;
    expect(got).toEqual([Array.from(small), Array.from(big), Array.from(small)]);
  });

  it("with reuseBatches, reads into a few pooled arenas, not a fresh MiB per arena filled, and every message arrives intact", async () => {
    // 3,000 messages of 8 KiB fill a 1 MiB arena 24 times over; each is
    // filled with its number, so an arena reused while a batch still pointed
    // into it would show another message's bytes.
    const r = await listen({ expectedProducers: 1, reuseBatches: true });
    const count = 3000;
    const size = 8000;
    const slow = Buffer.allocUnsafeSlow;
    let arenas = 0;
    Buffer.allocUnsafeSlow = (n: number) => (n >= 1024 * 1024 && arenas++, slow(n));
    try {
      const p = numberedProducer(r.address, count, size);
      const got = await readNumbered(r.batches(), size);
      expect(Number.isInteger(Number(await p.line))).toBe(true);
      expect(got).toEqual({ count, intact: count });
    } finally {
      Buffer.allocUnsafeSlow = slow;
    }
    expect(arenas).toBeLessThanOrEqual(4);
  });

  it("a producer of 1 MiB messages reuses its packet chunks: a few fresh ones in all, not one per message", async () => {
    // A 1 MiB message is copied whole into 128 packets of 8 KiB, 8 chunks of
    // 128 KiB, which drain through a 10-message queue: written chunks must be
    // kept for the next message, not left to the garbage collector.
    const r = await listen({ expectedProducers: 1, reuseBatches: true });
    const count = 200;
    const size = 1024 * 1024;
    const p = numberedProducer(r.address, count, size);
    expect(await readNumbered(r.batches(), size)).toEqual({ count, intact: count });
    expect(Number(await p.line)).toBeLessThanOrEqual(16);
  });

  it("makes a sender wait on a full queue without using CPU, then resume", async () => {
    const r = await listen({ expectedProducers: 1 });
    const s = await mqueueTransport.connect(r.address);
    const msg = new Uint8Array(1000);
    // Nobody iterates: the receiver stops reading once 64 batches wait, the queue fills, the sender waits.
    let sent = 0;
    let blocked = false;
    const producing = (async () => {
      for (; sent < 20_000; sent++) {
        if (!s.write(msg)) {
          blocked = true;
          await s.drain();
        }
      }
      await s.close();
    })();
    await new Promise((res) => setTimeout(res, 300));
    expect(blocked).toBe(true);
    const at = sent;
    const before = process.cpuUsage();
    await new Promise((res) => setTimeout(res, 500));
    const used = process.cpuUsage(before);
    expect(sent).toBe(at);
    expect((used.user + used.system) / 1000).toBeLessThan(50);
    let n = 0;
    for await (const _ of r) n++;
    await producing;
    expect(n).toBe(20_000);
  });
});

describe("mqueue: names", () => {
  for (const bad of ["../x", "a/b", "/a/b", "x".repeat(300), ""]) {
    it(`refuses the name ${JSON.stringify(bad.slice(0, 12))} with EINVALIDNAME`, async () => {
      await expect(mqueueTransport.listen({ name: bad })).rejects.toMatchObject({ code: "EINVALIDNAME", name: "ChannelError" });
    });
  }

  it("refuses to reuse an existing queue with EEXIST, and leaves it alone", async () => {
    const name = `/ipcs-taken-${process.pid}`;
    await listen({ name });
    await expect(mqueueTransport.listen({ name })).rejects.toMatchObject({ code: "EEXIST", syscall: "mq_open", resource: name });
    expect(mqExists(name)).toBe(true);
  });

  it("a producer's close() rejects EPEERGONE when the receiver closed the queue with its messages unread, and resolves when they were read", async () => {
    // A queue stays writable through open descriptors after the receiver unlinks it.
    const gone = await mqueueTransport.listen({});
    const lost = await mqueueTransport.connect(gone.address);
    for (let i = 0; i < 3; i++) lost.write(new Uint8Array(100));
    await gone.close();
    await expect(lost.close()).rejects.toMatchObject({ code: "EPEERGONE", message: expect.stringMatching(/closed the queue with \d+ kernel messages? unread/) });

    const r = await mqueueTransport.listen({ expectedProducers: 1 });
    const ok = await mqueueTransport.connect(r.address);
    for (let i = 0; i < 3; i++) ok.write(new Uint8Array(100));
    const closing = ok.close();
    let n = 0;
    for await (const b of r.batches()) n += b.count;
    await r.close();
    await closing;
    expect(n).toBe(3);
  });

  it("gives up attaching after timeoutMs with ETIMEDOUT when no queue exists", async () => {
    const address: MqueueAddress = { transport: "mqueue", name: `/ipcs-nobody-${process.pid}`, maxMessageSize: 10, messageSize: 8192, maxMessages: 10 };
    await expect(mqueueTransport.connect(address, { timeoutMs: 150 })).rejects.toMatchObject({ code: "ETIMEDOUT" });
  });
});

describe("mqueue: cleanup", () => {
  const receiverScript = (prefix: string, end = "signal") => `
    const { mqueueTransport } = await import(${JSON.stringify(DIST)});
    const r = await mqueueTransport.listen({ prefix: ${JSON.stringify(prefix)} });
    console.log(JSON.stringify(r.address));
    // "exit": a normal exit without close(), once the test has seen the address.
    if (${JSON.stringify(end)} === "exit") setTimeout(() => process.exit(0), 300);
    else setTimeout(() => {}, 15000);
  `;

  it.each(["SIGINT", "SIGTERM", "exit"] as const)("unlinks the queue when the receiver process ends by %s (exit: normally, without close)", async (signal) => {
    const rec = run(receiverScript("ipcs-term-", signal === "exit" ? "exit" : "signal"));
    const address = JSON.parse(await rec.line) as MqueueAddress;
    expect(mqExists(address.name)).toBe(true);
    if (signal === "exit") expect(await rec.exit).toBe(0);
    else {
      rec.child.kill(signal);
      expect(await rec.exit).toBe(signal);
    }
    expect(mqExists(address.name)).toBe(false);
  });

  it("lists queues by prefix through an mqueue mount and removes those whose owner died", async (ctx) => {
    const probe = spawnSync("unshare", ["-m", "true"]);
    if (probe.status !== 0) {
      console.warn("skipping: unshare -m is not permitted here, so no private mqueue mount");
      ctx.skip();
    }
    const prefix = `ipcs-stale${process.pid}-`;
    const dead = run(receiverScript(prefix));
    const deadAddress = JSON.parse(await dead.line) as MqueueAddress;
    dead.child.kill("SIGKILL");
    await dead.exit;
    expect(mqExists(deadAddress.name)).toBe(true); // SIGKILL leaves it behind
    const live = await listen({ prefix });
    const liveName = (live.address as MqueueAddress).name;
    const mnt = mkdtempSync(path.join(tmpdir(), "ipcs-mqmnt-"));
    try {
      // A private mount namespace sees this IPC namespace's queues; list() finds the mount in /proc/self/mountinfo.
      const script = `
        const { mqueueTransport } = await import(${JSON.stringify(DIST)});
        const listed = await mqueueTransport.list(${JSON.stringify(prefix)});
        // minAgeMs 0: the crash came right after creation; only the owner's lock decides.
        const removed = (await mqueueTransport.named.removeStale({ prefix: ${JSON.stringify(prefix)}, minAgeMs: 0 })).filter((e) => e.outcome === "removed").map((e) => e.name);
        console.log(JSON.stringify({ listed, removed }));
      `;
      const p = run(script, ["unshare", "-m", "sh", "-c", `mount -t mqueue none "$0" && exec "$@"`, mnt]);
      const out = JSON.parse(await p.line) as { listed: string[]; removed: string[] };
      expect(out.listed.sort()).toEqual([deadAddress.name, liveName].sort());
      expect(out.removed).toEqual([deadAddress.name]);
      expect(mqExists(deadAddress.name)).toBe(false);
      expect(mqExists(liveName)).toBe(true);
    } finally {
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
