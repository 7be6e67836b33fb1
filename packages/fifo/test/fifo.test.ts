import { existsSync, lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { killStartedProcesses, readInPlace, reusePattern, runSnippet } from "@ipc-sampler/core/conformance";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChannelError, TURN_MS, type Receiver } from "@ipc-sampler/core";
import { fifoTransport, type FifoAddress } from "../src/index.js";

const DIST = new URL("../dist/index.js", import.meta.url).href;
// Made in beforeAll, not at load: a run that filters every test out (vitest -t) runs no hooks.
let dir = "";
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "ipcs-fifo-test-"));
});
const receivers: Receiver[] = [];

const run = (code: string) => runSnippet(code);

afterEach(async () => {
  killStartedProcesses();
  for (const r of receivers.splice(0)) await r.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function listen(options: Parameters<typeof fifoTransport.listen>[0] = {}): Promise<Receiver> {
  const r = await fifoTransport.listen({ directory: dir, ...options });
  receivers.push(r);
  return r;
}

describe("fifo: a real named pipe", () => {
  it("creates a FIFO with mode 0600 that a producer process holds open through /proc/<pid>/fd", async () => {
    const r = await listen({ expectedProducers: 1 });
    const p = (r.address as FifoAddress).path;
    const st = lstatSync(p);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);

    const producer = run(`
      const { fifoTransport } = await import(${JSON.stringify(DIST)});
      const s = await fifoTransport.connect(${JSON.stringify(r.address)});
      await s.send(new Uint8Array([7]));
      console.log("ready");
      setTimeout(() => {}, 15000);
    `);
    expect(await producer.line).toBe("ready");
    const pid = producer.child.pid!;
    // A FIFO opened by path shows that path in /proc (an anonymous pipe shows pipe:[inode]);
    // what makes it a pipe is the inode behind the link: S_ISFIFO, the same inode as the path.
    const fds = readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === p;
      } catch {
        return false;
      }
    });
    expect(fds).toHaveLength(1);
    const viaProc = statSync(`/proc/${pid}/fd/${fds[0]}`);
    expect(viaProc.isFIFO()).toBe(true);
    expect(viaProc.ino).toBe(st.ino);
    expect(viaProc.mode & 0o777).toBe(0o600);

    const it = r[Symbol.asyncIterator]();
    const first = await it.next();
    expect(Array.from(first.value as Uint8Array)).toEqual([7]);
    producer.child.kill("SIGKILL");
  });

  it("removes the FIFO on close", async () => {
    const r = await fifoTransport.listen({ directory: dir });
    const p = (r.address as FifoAddress).path;
    expect(existsSync(p)).toBe(true);
    await r.close();
    expect(existsSync(p)).toBe(false);
  });

  it("uses no CPU while idle (no POLLHUP spin between producers)", async () => {
    const r = await listen();
    const producer = run(`
      const { fifoTransport } = await import(${JSON.stringify(DIST)});
      const s = await fifoTransport.connect(${JSON.stringify(r.address)});
      await s.send(new Uint8Array(10));
      await s.close();
      console.log("done");
    `);
    expect(await producer.line).toBe("done");
    await producer.exit;
    await new Promise((res) => setTimeout(res, 100));
    const before = process.cpuUsage();
    await new Promise((res) => setTimeout(res, 500));
    const used = process.cpuUsage(before);
    expect((used.user + used.system) / 1000).toBeLessThan(50);
  });
});

describe("fifo: names", () => {
  for (const bad of ["../x", "a/b", "x".repeat(300), ""]) {
    it(`refuses the name ${JSON.stringify(bad.slice(0, 12))} with EINVALIDNAME`, async () => {
      await expect(fifoTransport.listen({ directory: dir, name: bad })).rejects.toMatchObject({ code: "EINVALIDNAME", name: "ChannelError" });
    });
  }

  it("refuses a bad prefix", async () => {
    await expect(fifoTransport.listen({ directory: dir, prefix: "../" })).rejects.toBeInstanceOf(ChannelError);
  });

  it("refuses to reuse an existing FIFO with EEXIST", async () => {
    const r = await listen({ name: "ipcs-taken.fifo" });
    await expect(fifoTransport.listen({ directory: dir, name: "ipcs-taken.fifo" })).rejects.toMatchObject({ code: "EEXIST", syscall: "mkfifo" });
    expect(existsSync((r.address as FifoAddress).path)).toBe(true);
  });

  it("refuses a path where a regular file exists with EEXIST", async () => {
    const p = path.join(dir, "plain-file");
    writeFileSync(p, "x");
    await expect(fifoTransport.listen({ path: p })).rejects.toMatchObject({ code: "EEXIST" });
    expect(lstatSync(p).isFile()).toBe(true);
  });

  it("gives up attaching after timeoutMs with ETIMEDOUT when nobody listens", async () => {
    const t0 = Date.now();
    const address: FifoAddress = { transport: "fifo", path: path.join(dir, "nobody.fifo"), maxMessageSize: 10 };
    await expect(fifoTransport.connect(address, { timeoutMs: 200 })).rejects.toMatchObject({ code: "ETIMEDOUT" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });
});

describe("fifo: cleanup", () => {
  const receiverScript = (prefix: string) => `
    const { fifoTransport } = await import(${JSON.stringify(DIST)});
    const r = await fifoTransport.listen({ directory: ${JSON.stringify(dir)}, prefix: ${JSON.stringify(prefix)} });
    console.log(JSON.stringify(r.address));
    setTimeout(() => {}, 15000);
  `;

  it("lists FIFOs by prefix and removes the ones whose owner died (SIGKILL)", async () => {
    const prefix = "ipcs-stale-";
    const rec = run(receiverScript(prefix));
    const address = JSON.parse(await rec.line) as FifoAddress;
    const live = await listen({ prefix });
    const list = (fifoTransport.list as (prefix: string, directory: string) => Promise<string[]>)(prefix, dir);
    expect((await list).sort()).toEqual([address.path, (live.address as FifoAddress).path].sort());
    rec.child.kill("SIGKILL");
    await rec.exit;
    expect(existsSync(address.path)).toBe(true); // SIGKILL leaves it behind
    // minAgeMs 0: the crash came right after creation; only the owner's lock decides.
    const entries = await fifoTransport.named!.removeStale({ prefix, directory: dir, minAgeMs: 0 });
    expect(entries.filter((e) => e.outcome === "removed").map((e) => e.name)).toEqual([address.path]);
    expect(entries).toContainEqual(expect.objectContaining({ name: (live.address as FifoAddress).path, outcome: "kept", reason: "owner alive" }));
    expect(existsSync(address.path)).toBe(false);
    expect(existsSync((live.address as FifoAddress).path)).toBe(true);
  });
});

describe("fifo: HELLO packets that lie", () => {
  /** A peer process that writes raw HELLO packets (producer number, stream) to the FIFO without holding a slot lock, then prints "written" and idles. */
  const helloWriter = (fifo: string, hellos: Array<[number, number]>) => `
    import { openSync, writeSync } from "node:fs";
    const fd = openSync(${JSON.stringify(fifo)}, "w");
    const b = Buffer.alloc(8);
    for (const [number, stream] of ${JSON.stringify(hellos)}) {
      b.writeUInt32LE(number, 0); b.writeUInt16LE(stream, 4); b.writeUInt16LE(1 << 12, 6);
      writeSync(fd, b);
    }
    console.log("written");
    setTimeout(() => {}, 1 << 30);`;
  const producer = (address: unknown, n: number) => `
    const { fifoTransport } = await import(${JSON.stringify(DIST)});
    const s = await fifoTransport.connect(${JSON.stringify(address)});
    for (let i = 0; i < ${n}; i++) await s.send(new Uint8Array([i]));
    await s.close();
    console.log("sent");`;

  for (const number of [0, 1025, 2 ** 31, 0xffffffff]) {
    it(`a HELLO with producer number ${number} is lost with EPROTO; the receiver stays up and the real producer's messages arrive`, async () => {
      const lost: ChannelError[] = [];
      const r = await listen({ expectedProducers: 2, onPeerLost: (e) => lost.push(e) });
      const path = (r.address as FifoAddress).path;
      const bad = run(helloWriter(path, [[number, 1]]));
      expect(await bad.line).toBe("written");
      const good = run(producer(r.address, 5));
      let count = 0;
      for await (const b of r.batches()) count += b.count;
      expect(await good.line).toBe("sent");
      expect(count).toBe(5);
      expect(lost.map((e) => e.code)).toEqual(["EPROTO"]);
    }, 30_000);
  }

  it("HELLOs past the producer limit are lost with ELIMIT; the ones registered hold no slot lock and are lost with EPEERGONE", async () => {
    const lost: ChannelError[] = [];
    const n = 1500;
    const r = await listen({ expectedProducers: n, onPeerLost: (e) => lost.push(e) });
    const path = (r.address as FifoAddress).path;
    const bad = run(helloWriter(path, Array.from({ length: n }, (_, i) => [1, i + 1] as [number, number])));
    expect(await bad.line).toBe("written");
    // The writer holds no lock for number 1: the 1024 it did register are reported lost too and iteration ends.
    for await (const _ of r.batches());
    const codes = lost.reduce<Record<string, number>>((m, e) => ((m[e.code] = (m[e.code] ?? 0) + 1), m), {});
    expect(codes).toEqual({ ELIMIT: n - 1024, EPEERGONE: 1024 });
  }, 30_000);
});

describe("fifo: a waiting reader reads before it sleeps", () => {
  // Sender and receiver in one process, so "without a turn of the event loop" can be observed:
  // the receiver's core reports whether a caller still waits right after next() returns.
  it("hands over a message already in the FIFO, and a reply written just before the wait, within the call that waits", async () => {
    const r = await listen({ expectedProducers: 1, spinUs: 2000 });
    const s = await fifoTransport.connect(r.address);
    const core = (r as unknown as { core: { next(): Promise<{ count: number } | undefined>; waiting: boolean } }).core;
    await new Promise((done) => setTimeout(done, 50)); // the producer's hello is read
    s.write(new Uint8Array([1]));
    const started = performance.now();
    const first = core.next();
    expect(core.waiting).toBe(false);
    expect((await first)!.count).toBe(1);
    // The first message of a run went out in write(); the next run's first must too, though no loop turn passed.
    s.write(new Uint8Array([2]));
    const second = core.next();
    // Spinning answers for at most TURN_MS in a row (core turn.ts); on a loaded machine the two calls can be further
    // apart than that, and then the second rightly waits for the readiness callback.
    if (performance.now() - started < TURN_MS) expect(core.waiting).toBe(false);
    expect((await second)!.count).toBe(1);
    await s.close();
  });
});

describe("fifo: reuseBatches", () => {
  // Sender and receiver in one process: the reuse is the receiver's, and it is observed through batches' buffers.
  const lengths = [100 * 1024, 5, 1024 * 1024 + 3, 70 * 1024, 3, 200 * 1024, 1024 * 1024 + 3, 64 * 1024, 9, 300 * 1024];
  const sizes = [...lengths, ...lengths, ...lengths];

  it.each([
    ["read as they come", false],
    ["all queued before the first is read", true],
  ])("reassembles large messages in memory that released batches gave back, each whole when its batch is read (%s)", async (_, queued) => {
    const r = await listen({ expectedProducers: 1, reuseBatches: true });
    const s = await fifoTransport.connect(r.address);
    // All of it (under 12 MiB) fits below the receiver's high-water mark: nothing is given back while it waits.
    const sending = (async () => {
      for (const [i, n] of sizes.entries()) await s.send(reusePattern(i, n));
      await s.close();
    })();
    if (queued) {
      await sending;
      // send() returns once the kernel holds the bytes: the FIFO's last MiB may still wait there.
      // Read only once the receiver has taken the producer's goodbye, so nothing is read after the first release.
      for (const until = Date.now() + 10_000; r.producers.closed < 1 && Date.now() < until; ) await new Promise((done) => setTimeout(done, 5));
      expect(r.producers.closed).toBe(1);
    }
    const got = await readInPlace(r.batches(), sizes);
    await sending;
    expect(got.wrong).toEqual([]);
    expect(got.count).toBe(sizes.length);
    if (queued) expect(got.buffers).toBe(got.large);
    else expect(got.buffers).toBeLessThan(got.large / 2);
  }, 30_000);

  it("never reuses what the message iterator handed out", async () => {
    const r = await listen({ expectedProducers: 1, reuseBatches: true });
    const s = await fifoTransport.connect(r.address);
    const sending = (async () => {
      for (const [i, n] of sizes.entries()) await s.send(reusePattern(i, n));
      await s.close();
    })();
    const kept: Uint8Array[] = [];
    for await (const m of r) kept.push(m);
    await sending;
    expect(kept.map((m) => m.length)).toEqual(sizes);
    kept.forEach((m, i) => expect(Buffer.from(m).equals(reusePattern(i, sizes[i]!)), `message ${i}`).toBe(true));
  }, 30_000);
});
