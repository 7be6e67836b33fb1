import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { ChannelError, type MessageBatch, type Receiver } from "@ipc-sampler/core";
import { expectCheckedStress, killWhenReady } from "@ipc-sampler/core/conformance";
import { CheckedMessageVerifier } from "@ipc-sampler/core/fixtures";
import { afterEach, describe, expect, it } from "vitest";
import { SharedFloat64Array, SharedInt32Array, shmTransport, type ShmAddress } from "../src/index.js";
import { cpuTicks, killAll, settledCpu, start } from "./helpers.js";

/** Stress size: 1,000,000 per producer locally, bounded in CI; STRESS_N overrides. */
const STRESS_N = Number(process.env.STRESS_N ?? (process.env.CI ? 20_000 : 1_000_000));

const receivers: Receiver[] = [];
afterEach(async () => {
  killAll();
  for (const r of receivers.splice(0)) await r.close();
});

async function listen(options: Parameters<typeof shmTransport.listen>[0] = {}) {
  const r = await shmTransport.listen(options);
  receivers.push(r);
  return r;
}

/** The fixture's random messages: per-producer order, sizes 1..65536, checksums. */
const RandomVerifier = CheckedMessageVerifier;

describe("shm ring", () => {
  it(`stress: 2 producers × ${STRESS_N} messages of 1 B – 64 KiB, every checksum verified`, async () => {
    const r = await listen({ expectedProducers: 2 });
    await expectCheckedStress(r, STRESS_N, (id) => start("random", { address: r.address, id, count: STRESS_N, seed: 11 + id }, 600_000));
    expect(r.producers).toMatchObject({ attached: 2, closed: 2, lost: 0 });
  }, 900_000);

  it("kill: a producer SIGKILLed at a random point; only whole messages, reported within 1 s", async () => {
    let lostAt = 0;
    let lostError: ChannelError | undefined;
    const r = await listen({ expectedProducers: 1, onPeerLost: (e) => ((lostAt = Date.now()), (lostError = e)) });
    const p = start("forever", { address: r.address, id: 0, seed: 5 });
    const v = new RandomVerifier();
    let killedAt = 0;
    const killer = killWhenReady(p).then((at) => (killedAt = at));
    for await (const b of r.batches()) v.verify(b);
    await killer;
    expect(v.bad).toEqual([]);
    expect(v.count).toBeGreaterThan(2000);
    expect(lostError).toBeInstanceOf(ChannelError);
    expect(lostError!.code).toBe("EPEERGONE");
    expect(lostAt - killedAt).toBeLessThan(1000);
  });

  it("idle: a sleeping consumer and a producer blocked on a full ring use no CPU", async () => {
    // Consumer side: a consumer process with an attached, silent producer.
    const c = start("consumer", {});
    const { address } = await c.waitFor((l) => "address" in l);
    const idle = start("idle", { address });
    await idle.waitFor((l) => l.attached === true);
    // Producer side: this process listens but never reads, so the producer fills the ring and waits.
    const r = await listen({ expectedProducers: 1, ringBytes: 1 << 18 });
    const full = start("forever", { address: r.address, id: 0, seed: 9 });
    // Past the spins and into the futex waits (the producer may still be filling the ring).
    await settledCpu([c.child.pid!, full.child.pid!]);
    const before = [cpuTicks(c.child.pid!), cpuTicks(full.child.pid!)];
    await sleep(2000);
    const used = [cpuTicks(c.child.pid!) - before[0]!, cpuTicks(full.child.pid!) - before[1]!];
    // 100 ticks/s: 2 ticks = 20 ms of CPU over 2 s, i.e. under 1 %.
    expect(used[0]).toBeLessThanOrEqual(2);
    expect(used[1]).toBeLessThanOrEqual(2);
    expect(full.lines.some((l) => "error" in l)).toBe(false);
  });

  it("reports EPEERGONE to a producer waiting for space when the receiver is SIGKILLed", async () => {
    const c = start("consumer", {});
    const { address } = await c.waitFor((l) => "address" in l);
    // Another producer fills the ring? No: stop the consumer reading by killing it.
    const p = start("forever", { address, id: 0, seed: 3 });
    await p.waitFor((l) => l.ready === true);
    const killedAt = Date.now();
    c.child.kill("SIGKILL");
    const line = await p.waitFor((l) => "error" in l, 5000);
    expect(line.error).toBe("EPEERGONE");
    expect(line.at - killedAt).toBeLessThan(1000);
    // The crash left the segment: it is listed, and removeStale removes it.
    const name = (address as ShmAddress).name;
    expect(await shmTransport.list()).toContain(name);
    // minAgeMs 0: the crash came right after creation; only the owner's lock decides.
    const entries = await shmTransport.named!.removeStale({ minAgeMs: 0 });
    expect(entries).toContainEqual(expect.objectContaining({ name, outcome: "removed", reason: "no owner" }));
    expect(existsSync((address as ShmAddress).path)).toBe(false);
  });

  it("unlinks the segment on SIGTERM", async () => {
    const c = start("consumer", {});
    const { address } = await c.waitFor((l) => "address" in l);
    expect(existsSync(address.path)).toBe(true);
    c.child.kill("SIGTERM");
    await c.exit;
    expect(existsSync(address.path)).toBe(false);
  });

  it("hands out zero-copy views into the ring, and copies on the simple path", async () => {
    const r = await listen({ expectedProducers: 1 });
    const p = start("random", { address: r.address, id: 0, count: 50, seed: 1 });
    const it = r.batches();
    const first = (await it.next()).value as MessageBatch;
    expect(first.data.buffer.byteLength).toBeGreaterThan((r.address as ShmAddress).ringBytes); // the mapping itself
    const v = new RandomVerifier();
    v.verify(first);
    (r as unknown as { release(): void }).release();
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      v.verify(n.value);
    }
    expect(v.bad).toEqual([]);
    expect(await p.exit).toBe(0);
  });
});

describe("shm ring: reserve → fill → commit", () => {
  it("messages built in the ring arrive whole and in order beside written ones, across wraps and a full ring", async () => {
    const r = await listen({ expectedProducers: 1, ringBytes: 256 * 1024 });
    await expectCheckedStress(r, 3000, () => start("reserve", { address: r.address, id: 0, count: 3000, seed: 7 }), 1);
  });
});

describe("shm ring: a producer that breaks the frame format", () => {
  // [what, length written into the ring, tail advance]
  const cases: Array<[string, number, number]> = [
    ["a negative length", -24, 16],
    ["a length of 2^31 - 1", 2 ** 31 - 1, 16],
    ["a frame longer than the bytes published", 100, 16],
    ["a tail more than one ring ahead", 8, 3 * 4096 * 1024],
  ];
  for (const [what, len, tail] of cases) {
    it(`${what}: that producer is dropped with EPROTO, the other's messages all arrive, iteration ends`, async () => {
      const lost: ChannelError[] = [];
      const r = (await listen({ expectedProducers: 2, onPeerLost: (e) => lost.push(e) })) as Receiver & { address: ShmAddress };
      const bad = start("corrupt", { address: r.address, len, tail });
      await bad.waitFor((l) => l.corrupted === true);
      const good = start("random", { address: r.address, id: 1, count: 500, seed: 3 });
      let count = 0;
      for await (const b of r.batches()) count += b.count;
      expect(lost.map((e) => e.code)).toEqual(["EPROTO"]);
      expect(lost[0]!.message).toMatch(/broke the ring protocol/);
      // Frames before a bad one are delivered; behind a tail past the ring no byte of that ring is trusted.
      expect(count).toBe(500 + (tail > r.address.ringBytes ? 0 : 3));
      expect(await good.exit).toBe(0);
      expect(r.producers).toMatchObject({ attached: 2, closed: 1, lost: 1 });
    }, 60_000);
  }
});

describe("shm segments: backed at creation", () => {
  // A private mount namespace with a 1 MiB tmpfs over /dev/shm stands in for
  // Docker's small default; the receiver runs inside it as its own process.
  const canUnshare = spawnSync("unshare", ["-m", "true"]).status === 0;
  it.skipIf(!canUnshare)("a /dev/shm too small for the rings (or a shared array) fails listen (create) with ELIMIT instead of a later SIGBUS", () => {
    const dist = new URL("../dist/index.js", import.meta.url).href;
    const src = `const m = await import(${JSON.stringify(dist)}); try { const r = await m.shmTransport.listen({}); console.log("listening"); await r.close(); } catch (e) { console.log(e.code); }
      try { m.SharedInt32Array.create("big", 1 << 20); console.log("created"); } catch (e) { console.log(e.code); }`;
    const r = spawnSync("unshare", ["-m", "sh", "-c", `mount -t tmpfs -o size=1m tmpfs /dev/shm && exec "$0" --input-type=module -e "$1"`, process.execPath, src], { encoding: "utf8", timeout: 30_000 });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.stdout.trim().split("\n")).toEqual(["ELIMIT", "ELIMIT"]);
  });
});

describe("shm segments: a peer that truncates the segment", () => {
  // truncate(1) is the peer: any process that may write the file may shrink it.
  // Unguarded, the next touch of the lost pages is SIGBUS and kills the process.
  const shrink = (file: string) => expect(spawnSync("truncate", ["-s", "0", file]).status).toBe(0);

  it("while messages flow: the receiver's iteration ends with EPROTO and it lives on; the producer gets EPROTO, no SIGBUS", async () => {
    const r = (await listen({ expectedProducers: 1 })) as Receiver & { address: ShmAddress };
    const p = start("forever", { address: r.address, id: 0, seed: 5 });
    let count = 0;
    let shrunk = false;
    const error = await (async () => {
      for await (const b of r.batches()) {
        count += b.count;
        if (!shrunk && count >= 50) {
          shrink(r.address.path);
          shrunk = true;
        }
      }
    })().then(() => undefined, (e: unknown) => e);
    expect(shrunk).toBe(true);
    expect(error).toBeInstanceOf(ChannelError);
    expect((error as ChannelError).code).toBe("EPROTO");
    expect((error as ChannelError).message).toMatch(/truncated by a peer/);
    // Later calls give the same answer instead of reading zeros.
    await expect(r.batches().next()).rejects.toMatchObject({ code: "EPROTO" });
    const line = await p.waitFor((l) => l.error !== undefined);
    expect(line.error, line.message).toBe("EPROTO");
    expect(await p.exit).toBe(0);
  }, 60_000);

  it("while the receiver sleeps on an idle channel: it wakes within its liveness slice with EPROTO", async () => {
    const r = (await listen({ expectedProducers: 1 })) as Receiver & { address: ShmAddress };
    const p = start("idle", { address: r.address });
    await p.waitFor((l) => l.attached === true);
    const it = r.batches();
    const pending = it.next();
    await sleep(300); // asleep on the doorbell by now
    shrink(r.address.path);
    const at = performance.now();
    await expect(pending).rejects.toMatchObject({ code: "EPROTO" });
    expect(performance.now() - at).toBeLessThan(5_000);
    expect(p.child.exitCode).toBeNull(); // the idle producer touches nothing: alive
  }, 60_000);
});

describe("shared values", () => {
  it("P processes add into one Int32 and one Float64 counter; the totals are exact", async () => {
    const tag = `t${process.pid}-${Date.now().toString(36)}`;
    const ints = SharedInt32Array.create(`${tag}-i`, 1);
    const floats = SharedFloat64Array.create(`${tag}-f`, 1);
    try {
      const P = 4;
      const adds = 50_000;
      const ps = [];
      for (let i = 0; i < P; i++) {
        ps.push(start("counter", { name: `${tag}-i`, adds, float: false }));
        ps.push(start("counter", { name: `${tag}-f`, adds, float: true }));
      }
      for (const p of ps) expect(await p.exit).toBe(0);
      expect(ints.load(0)).toBe(P * adds);
      expect(floats.load(0)).toBe(P * adds * 0.5);
      expect(floats.compareExchange(0, P * adds * 0.5, 1.25)).toBe(P * adds * 0.5);
      expect(floats.load(0)).toBe(1.25);
      expect(ints.compareExchange(0, 7, 9)).toBe(P * adds);
      expect(SharedInt32Array.list()).toContain(`${tag}-i`);
    } finally {
      ints.unlink();
      floats.unlink();
    }
    expect(SharedInt32Array.exists(`${tag}-i`)).toBe(false);
  });
});
