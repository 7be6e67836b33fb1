import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdirSync, readlinkSync } from "node:fs";
import { tcpTransport, udsTransport } from "@ipc-sampler/socket";
import { fifoTransport } from "@ipc-sampler/fifo";
import { Pool, WorkerLostError } from "../dist/index.js";
import * as Tasks from "./fixtures/tasks.mjs";
import { killAll, tasks, track } from "./helpers.js";

type T = typeof Tasks;
let pool: Pool<T>;

beforeAll(async () => {
  pool = await Pool.create<T>({ module: tasks, processes: 2, graceMs: 300 });
  pool.on("workerExit", () => {});
});
afterAll(async () => {
  await pool?.terminate();
  killAll();
});

describe("Pool", () => {
  it("map, starmap, apply, imap and imapUnordered give the results in the right order", async () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    expect(await pool.map("square", xs)).toEqual(xs.map((x) => x * x));
    expect(await pool.map("square", xs.slice(0, 10), { chunksize: 1 })).toEqual(xs.slice(0, 10).map((x) => x * x));
    expect(await pool.starmap("add", [[1, 2], [3, 4]])).toEqual([3, 7]);
    expect(await pool.apply("add", [20, 22])).toBe(42);
    const me = await pool.apply("whoami", []);
    expect(me).toMatchObject({ name: expect.stringMatching(/^PoolWorker-\d+$/), daemon: true, parentPid: process.pid });
    await expect(pool.join()).rejects.toThrow(/still running/);
    async function* lazy() {
      for (let i = 0; i < 50; i++) yield i;
    }
    const ordered: number[] = [];
    for await (const v of pool.imap("square", lazy(), { chunksize: 3 })) ordered.push(v);
    expect(ordered).toEqual(xs.slice(0, 50).map((x) => x * x));
    const unordered: number[] = [];
    for await (const v of pool.imapUnordered("sleep", [30, 1, 20].map(Number) as never)) unordered.push(v as number);
    expect(unordered).toHaveLength(3);
  });

  it("mapAsync and applyAsync: AsyncResult and callbacks", async () => {
    let called: number[] | undefined;
    const r = pool.mapAsync("square", [1, 2, 3], { callback: (v) => (called = v) });
    expect(r.ready()).toBe(false);
    expect(() => r.successful()).toThrow();
    expect(await r.get({ timeoutMs: 10_000 })).toEqual([1, 4, 9]);
    expect(r.ready() && r.successful()).toBe(true);
    expect(called).toEqual([1, 4, 9]);
    let failure: unknown;
    const f = pool.applyAsync("failQuota", [], { errorCallback: (e) => (failure = e) });
    await f.wait();
    expect(f.successful()).toBe(false);
    expect(failure).toBeInstanceOf(Tasks.QuotaError);
    const slow = pool.applyAsync("sleep", [2000, 1]);
    await expect(slow.get({ timeoutMs: 50 })).rejects.toMatchObject({ code: "ETIMEDOUT" });
    expect(await slow.get()).toBe(1); // the task went on
  });

  it("errors keep class, cause chain, AggregateError and fields", async () => {
    const err = await pool.apply("failDeep", []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Tasks.QuotaError);
    expect((err as Tasks.QuotaError).limit).toBe(3);
    const cause = (err as Error).cause as AggregateError;
    expect(cause).toBeInstanceOf(AggregateError);
    expect(cause.errors[0]).toBeInstanceOf(RangeError);
    expect(cause.errors[1].message).toBe("b");
  });

  it("a worker killed mid-task fails that task within 1 s naming it; the pool replaces it and keeps serving", async () => {
    const before = pool.stats().crashed;
    const others = pool.map("sleep", [200, 200, 200, 200], { chunksize: 1 });
    const t0 = Date.now();
    const err = await pool.apply("killSelf", []).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1000 + 500);
    expect(err).toBeInstanceOf(WorkerLostError);
    expect(err).toMatchObject({ code: "EPEERGONE", signal: "SIGKILL", exitCode: -9 });
    expect((err as Error).message).toMatch(/PoolWorker-\d+ \(pid \d+\) killed by SIGKILL while running killSelf\(\)/);
    expect(await others).toHaveLength(4);
    expect(await pool.apply("add", [1, 1])).toBe(2);
    expect(pool.stats().crashed).toBe(before + 1);
  });

  it("abort and timeout: the cooperative task stops, the stuck one is killed after the grace, only its worker", async () => {
    const ac = new AbortController();
    const coop = pool.apply("cooperative", [], { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(coop).rejects.toMatchObject({ name: "AbortError" });
    const t0 = Date.now();
    const stuckExit = new Promise<{ signal: string | null }>((resolve) => pool.on("workerExit", resolve));
    await expect(pool.apply("forever", [], { timeoutMs: 100 })).rejects.toMatchObject({ code: "ETIMEDOUT" });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect((await stuckExit).signal).toBe("SIGTERM");
    // the stuck worker is SIGTERMed after graceMs and replaced
    expect(await pool.map("square", [1, 2, 3, 4, 5], { chunksize: 1 })).toEqual([1, 4, 9, 16, 25]);
    const aborted = new AbortController();
    aborted.abort();
    await expect(pool.apply("add", [1, 2], { signal: aborted.signal })).rejects.toMatchObject({ name: "AbortError" });
  });

  it("bad input: unserializable argument or result, unknown export — a typed error, and the pool keeps working", async () => {
    await expect(pool.apply("add", [() => 1, 2] as never)).rejects.toMatchObject({ code: "EPROTO" });
    await expect(pool.apply("returnFunction", [])).rejects.toMatchObject({ code: "EPROTO" });
    await expect(pool.apply("nope" as never, [] as never)).rejects.toThrow(/no exported function named nope/);
    expect(await pool.apply("add", [2, 2])).toBe(4);
    await expect(Pool.create({ module: new URL("./fixtures/missing.mjs", import.meta.url), processes: 1 })).rejects.toThrow(/missing\.mjs/);
  });

  it("maxTasksPerChild recycles workers, initializer runs in each, maxQueue refuses with ELIMIT, a closed pool gives ECLOSED", async () => {
    const p = await Pool.create<T>({ module: tasks, processes: 1, maxTasksPerChild: 2, initializer: "init", initargs: ["yes"], maxQueue: 3 });
    try {
      const pids = new Set<number>();
      for (let i = 0; i < 4; i++) pids.add(await p.apply("pid", []));
      pids.forEach(track);
      expect(pids.size).toBe(2);
      expect(await p.apply("getInit", [])).toBe("yes");
      expect(p.stats().recycled).toBeGreaterThanOrEqual(1);
      const refused = await Promise.all([1, 2, 3, 4, 5, 6].map(() => p.apply("sleep", [50, 0]).catch((e: unknown) => e)));
      expect(refused.some((r) => (r as { code?: string })?.code === "ELIMIT")).toBe(true);
      p.close();
      await expect(p.apply("add", [1, 1])).rejects.toMatchObject({ code: "ECLOSED" });
      await p.join();
      expect(p.stats().processes).toBe(0);
    } finally {
      await p.terminate();
    }
  });

  it("stats() has run, wait and transport latency histograms, the transport share within the round trip", async () => {
    const before = pool.stats().transportMs.count;
    await pool.map("square", [1, 2, 3, 4, 5, 6, 7, 8], { chunksize: 1 });
    await pool.apply("sleep", [1000, 0]);
    const s = pool.stats();
    expect(s.transportMs.count).toBeGreaterThanOrEqual(before + 9);
    expect(s.waitMs.count).toBeGreaterThanOrEqual(9);
    for (const h of [s.transportMs, s.runMs, s.waitMs]) expect(h.p50).toBeGreaterThanOrEqual(0);
    // The sleep's 1,000 ms are in its run, not in its transport: counted there, its
    // transport would be over 1,000 ms; a loaded machine adds a few hundred at most.
    expect(s.runMs.max).toBeGreaterThanOrEqual(999);
    expect(s.transportMs.max).toBeLessThan(1000);
  });

  it("drain() waits for room below maxQueue instead of ELIMIT, and for idle without it", async () => {
    const p = await Pool.create<T>({ module: tasks, processes: 1, maxQueue: 2, prefetch: 1 });
    try {
      const results: Array<Promise<number>> = [];
      let refused = 0;
      for (let i = 0; i < 8; i++) {
        // Producer with backpressure: wait for room rather than fail.
        await p.drain();
        expect(p.stats().queued).toBeLessThan(2);
        const r = p.apply("sleep", [20, i]) as Promise<number>;
        r.catch((e: unknown) => (e as { code?: string }).code === "ELIMIT" && refused++);
        results.push(r);
      }
      expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(refused).toBe(0);
    } finally {
      await p.terminate();
    }
    await p.drain(); // a terminated pool does not keep anyone waiting
    const pending = [pool.apply("sleep", [50, 1]), pool.apply("sleep", [50, 2]), pool.apply("sleep", [50, 3])];
    await pool.drain();
    expect(pool.stats()).toMatchObject({ queued: 0, busy: 0 });
    expect(await Promise.all(pending)).toEqual([1, 2, 3]);
  });

  it.each([
    ["maxLifetimeMs", { maxLifetimeMs: 1 }],
    ["maxRssBytes", { maxRssBytes: 1 }],
  ])("%s recycles a worker, its successor started ahead", async (_, limit) => {
    const p = await Pool.create<T>({ module: tasks, processes: 1, ...limit });
    const exited: Array<number | undefined> = [];
    p.on("workerExit", ({ pid }) => exited.push(pid));
    try {
      const first = await p.apply("pid", []);
      const second = await p.apply("pid", []);
      [first, second].forEach(track);
      expect(second).not.toBe(first);
      // A retired worker counts as recycled once it has exited, which its started-ahead successor may answer before.
      for (let t = 0; t < 100 && !exited.includes(first as number); t++) await new Promise((r) => setTimeout(r, 20));
      expect(exited).toContain(first);
      expect(p.stats().recycled).toBeGreaterThanOrEqual(1);
    } finally {
      await p.terminate();
    }
  });

  it.each([
    ["uds", udsTransport],
    ["tcp", tcpTransport],
  ])("over %s a worker's link to the parent is one socket both ways", async (_, transport) => {
    const p = await Pool.create<T>({ module: tasks, processes: 1, transport });
    try {
      const pid = await p.apply("pid", []);
      track(pid);
      // stdin/stdout/stderr may be sockets too (inherited from the test runner): not counted.
      const sockets = readdirSync(`/proc/${pid}/fd`).filter((fd) => {
        if (Number(fd) <= 2) return false;
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
        } catch {
          return false;
        }
      });
      // Two one-way channels would be three: the worker's listener, the connection it accepted, and its own.
      expect(sockets.length).toBe(1);
      expect(await p.map("square", [1, 2, 3], { chunksize: 1 })).toEqual([1, 4, 9]);
    } finally {
      await p.terminate();
    }
  });

  it.each([
    ["tcp", tcpTransport],
    ["fifo", fifoTransport],
  ])("runs over the %s transport", async (_, transport) => {
    const p = await Pool.create<T>({ module: tasks, processes: 2, transport });
    try {
      expect(await p.map("square", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toEqual([1, 4, 9, 16, 25, 36, 49, 64, 81, 100]);
      expect(await p.apply("add", [1, 2])).toBe(3);
    } finally {
      await p.terminate();
    }
  });
});
