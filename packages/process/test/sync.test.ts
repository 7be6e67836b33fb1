import { execFileSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { Barrier, Condition, Event, JoinableQueue, Lock, Process, Queue, RLock, Semaphore, SharedArray, Value, BoundedSemaphore } from "../dist/index.js";
import { openSegment } from "@ipc-sampler/posix";
import { killAll, startTracked } from "./helpers.js";

const tasks = new URL("./fixtures/sync-tasks.mjs", import.meta.url);
afterAll(killAll);

const run = (target: string, args: unknown[]): Promise<Process> => startTracked(tasks, target, args);

describe.concurrent("shared state across processes", () => {
  it("Value increments under its lock from three processes add up", async () => {
    const v = new Value("i32", 0);
    const ps = await Promise.all([0, 1, 2].map((i) => run("incrementLocked", [v, 2000, i === 2 ? v.getLock() : undefined])));
    expect(await Promise.all(ps.map((p) => p.join()))).toEqual([0, 0, 0]);
    expect(v.value).toBe(6000);
  });

  it("a lock whose holder is killed is freed for the next process, flagged ownerDied", async () => {
    const lock = new Lock();
    const started = new Event();
    const p = await run("holdAndHang", [lock, started]);
    expect(await started.wait({ timeoutMs: 10_000 })).toBe(true);
    expect(await lock.acquire({ timeoutMs: 100 })).toBe(false);
    const got = lock.acquire({ timeoutMs: 10_000 });
    p.kill();
    expect(await got).toBe(true);
    expect(lock.ownerDied).toBe(true);
    lock.release();
    expect(await lock.acquire({ timeoutMs: 100 })).toBe(true);
    expect(lock.ownerDied).toBe(false);
    lock.close();
    started.close();
  });

  it("a segment another process truncated: the next take or wait is EPROTO, not SIGBUS", async () => {
    const lock = new Lock();
    const e = new Event();
    execFileSync("truncate", ["-s", "0", `/dev/shm/${lock.$shared.name}`]);
    await expect(lock.acquire()).rejects.toMatchObject({ code: "EPROTO", message: expect.stringMatching(/truncated by a peer/) });
    e.set(); // an intact segment beside it is unaffected
    expect(await e.wait({ timeoutMs: 50 })).toBe(true);
    e.clear();
    execFileSync("truncate", ["-s", "0", `/dev/shm/${e.$shared.name}`]);
    await expect(e.wait({ timeoutMs: 50 })).rejects.toMatchObject({ code: "EPROTO" });
    lock.close();
    e.close();
  });

  it("Event.wait sleeps until another process sets it, and times out when none does", async () => {
    const e = new Event();
    expect(await e.wait({ timeoutMs: 50 })).toBe(false);
    await run("setLater", [e, 100]);
    // No deadline: only the other process's set() and its futex wake can end this wait.
    expect(await e.wait()).toBe(true);
    expect(e.isSet()).toBe(true);
    e.clear();
    expect(e.isSet()).toBe(false);
    e.close();
  });

  it("a Semaphore(2) never lets three processes in at once", async () => {
    const sem = new Semaphore(2);
    const counter = new SharedArray("i32", 2, { lock: false });
    const ps = await Promise.all([0, 1, 2, 3].map(() => run("semaphoreMax", [sem, counter, null, 20])));
    await Promise.all(ps.map((p) => p.join()));
    expect(counter.get(0)).toBe(0);
    expect(counter.get(1)).toBe(2);
    expect(sem.getValue()).toBe(2);
  });

  it("BoundedSemaphore refuses a release past its value; RLock nests; lock: false has no lock", async () => {
    const b = new BoundedSemaphore(1);
    expect(() => b.release()).toThrow(expect.objectContaining({ code: "ELIMIT" }));
    const r = new RLock();
    expect(await r.acquire()).toBe(true);
    expect(r.tryAcquire()).toBe(true);
    r.release();
    expect(r.locked).toBe(true);
    r.release();
    expect(r.locked).toBe(false);
    expect(() => r.release()).toThrow(expect.objectContaining({ code: "EPERM" }));
    expect(() => new Value("f64", 1.5, { lock: false }).getLock()).toThrow(TypeError);
    const big = new Value("i64", 2n ** 40n);
    expect(big.value).toBe(2n ** 40n);
    const u = new Value("u32", 0);
    u.value = -1;
    expect(u.value).toBe(0xffffffff);
  });

  it("Barrier releases three processes and the parent together; a timed-out wait breaks it", async () => {
    const barrier = new Barrier(4);
    const order = new SharedArray("i32", 4, { lock: false });
    const ps = await Promise.all([0, 1, 2].map(() => run("barrierParty", [barrier, order])));
    const index = await barrier.wait({ timeoutMs: 10_000 });
    expect(index).toBeGreaterThanOrEqual(0);
    await Promise.all(ps.map((p) => p.join()));
    expect(order.get(0)).toBe(3);
    const lone = new Barrier(2);
    await expect(lone.wait({ timeoutMs: 50 })).rejects.toMatchObject({ name: "BrokenBarrierError" });
    expect(lone.broken).toBe(true);
  });

  it("Condition: a child waits for a predicate the parent makes true and notifies", async () => {
    const cond = new Condition();
    const v = new Value("i32", 0, { lock: false });
    const p = await run("conditionWaiter", [cond, v]);
    await new Promise((r) => setTimeout(r, 100));
    await cond.acquire();
    v.value = 1;
    cond.notifyAll();
    cond.release();
    expect(await p.join()).toBe(0);
    expect(v.value).toBe(2);
  });

  it("Queue: 3 producers and 2 consumers move every item exactly once through a small ring", async () => {
    const q = new Queue<number>({ maxsize: 8 });
    const sum = new Value("i64", 0n);
    const per = 2000;
    const producers = await Promise.all([0, 1, 2].map((i) => run("produce", [q, i * per, per])));
    const consumers = await Promise.all([0, 1].map(() => run("consume", [q, sum, (3 * per) / 2])));
    await Promise.all([...producers, ...consumers].map((p) => p.join()));
    const n = 3 * per;
    expect(sum.value).toBe(BigInt((n * (n - 1)) / 2));
    expect(q.qsize()).toBe(0);
  });

  it("Queue: a consumer killed while waiting in get takes nothing with it", async () => {
    const q = new Queue<number>({ maxsize: 4 });
    const started = new Event();
    const p = await run("getOne", [q, started]);
    expect(await started.wait({ timeoutMs: 10_000 })).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    p.kill();
    await p.join();
    const got: number[] = [];
    for (let i = 0; i < 20; i++) {
      await q.put(i, { timeoutMs: 5000 });
      got.push(await q.get({ timeoutMs: 5000 }));
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(q.qsize()).toBe(0);
    started.close();
  });

  it("Queue: a getter asleep is woken by a producer that exits right after its put", async () => {
    const q = new Queue<string>({ maxsize: 4 });
    const getting = q.get({ timeoutMs: 20_000 });
    const p = await run("putThenExit", [q, "last words"]);
    expect(await getting).toBe("last words");
    await p.join();
  });

  it("Queue with the default codec: JSON-exact items take the JSON path, everything else keeps structured clone", async () => {
    const q = new Queue<unknown>({ maxsize: 32, itemBytes: 512 });
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    let deep: unknown = "bottom";
    for (let i = 0; i < 20; i++) deep = { down: deep };
    const items: unknown[] = [
      { id: 1, tag: "tick", nested: [1, "ü", true, null, { x: 0.5 }] },
      "plain",
      -0,
      NaN,
      Infinity,
      { gone: undefined },
      [1, , 3], // eslint-disable-line no-sparse-arrays
      new Date(5),
      new Map([[1, 2]]),
      new Set(["a"]),
      10n,
      new Uint8Array([1, 2]),
      Object.assign(Object.create(null) as object, { a: 1 }),
      cyclic,
      deep,
    ];
    await q.putMany(items);
    const got = await q.getMany(items.length);
    expect(got).toHaveLength(items.length);
    expect(got[0]).toEqual(items[0]);
    expect(got[1]).toBe("plain");
    expect(Object.is(got[2], -0)).toBe(true);
    expect(got[3]).toBeNaN();
    expect(got[4]).toBe(Infinity);
    expect(Object.keys(got[5] as object)).toEqual(["gone"]);
    expect(1 in (got[6] as unknown[])).toBe(false);
    expect(got[7]).toBeInstanceOf(Date);
    expect(got[8]).toBeInstanceOf(Map);
    expect(got[9]).toBeInstanceOf(Set);
    expect(got[10]).toBe(10n);
    expect(got[11]).toBeInstanceOf(Uint8Array);
    expect(got[12]).toEqual({ a: 1 });
    expect((got[13] as Record<string, unknown>).self).toBe(got[13]);
    expect(JSON.stringify(got[14])).toBe(JSON.stringify(deep));
  });

  it("Queue: putMany/getMany move runs in order; a slot whose length is corrupt is EPROTO, not a crash", async () => {
    const q = new Queue<number>({ maxsize: 10, itemBytes: 16 });
    const filling = q.putMany(Array.from({ length: 25 }, (_, i) => i), { timeoutMs: 10_000 });
    const got: number[] = [];
    while (got.length < 25) got.push(...(await q.getMany(7, { timeoutMs: 10_000 })));
    await filling;
    expect(got).toEqual(Array.from({ length: 25 }, (_, i) => i));
    await q.putMany([100, 101]);
    const seg = openSegment(q.$shared.name);
    const head = new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, 64)[24 + 0]!;
    seg.buffer.writeUInt32LE(0xffffff, 256 + head * 24);
    seg.close();
    await expect(q.get()).rejects.toMatchObject({ code: "EPROTO" });
    expect(await q.get()).toBe(101);
    expect(q.qsize()).toBe(0);
  });

  it("Queue with the json codec: plain data crosses, a multi-byte string past itemBytes is EMSGSIZE", async () => {
    const q = new Queue<unknown>({ maxsize: 4, itemBytes: 32, codec: "json" });
    await q.put({ a: [1, "ü"], b: null });
    await q.put(undefined);
    expect(await q.get()).toEqual({ a: [1, "ü"], b: null });
    expect(await q.get()).toBeNull();
    expect(() => q.putNowait("ü".repeat(16))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
    q.putNowait("ü".repeat(15));
    expect(Queue.from<string>({ $shared: q.$shared }).getNowait()).toBe("ü".repeat(15));
  });

  it("Queue edges: Full, Empty, EMSGSIZE, timeouts, abort", async () => {
    const q = new Queue<string>({ maxsize: 1, itemBytes: 32 });
    expect(q.empty()).toBe(true);
    q.putNowait("a");
    expect(q.full()).toBe(true);
    expect(() => q.putNowait("b")).toThrow(expect.objectContaining({ name: "Full", code: "EBUSY" }));
    await expect(q.put("b", { timeoutMs: 30 })).rejects.toMatchObject({ name: "Full", code: "ETIMEDOUT" });
    expect(() => q.putNowait("x".repeat(100))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
    expect(q.getNowait()).toBe("a");
    expect(() => q.getNowait()).toThrow(expect.objectContaining({ name: "Empty" }));
    await expect(q.get({ timeoutMs: 30 })).rejects.toMatchObject({ name: "Empty", code: "ETIMEDOUT" });
    const ac = new AbortController();
    const pending = q.get({ signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    q.close();
    await expect(q.put("c")).rejects.toMatchObject({ code: "ECLOSED" });
  });

  it("JoinableQueue: join resolves once a worker process has marked every item done", async () => {
    const q = new JoinableQueue<number | null>({ maxsize: 16 });
    const p = await run("joinableWorker", [q]);
    for (let i = 0; i < 100; i++) await q.put(i);
    await q.put(null);
    await q.join({ timeoutMs: 20_000 });
    expect(q.qsize()).toBe(0);
    expect(await p.join()).toBe(0);
    expect(() => q.taskDone()).toThrow(expect.objectContaining({ code: "EPERM" }));
  });

  it("the creating process removes the segments when it exits", () => {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", `
      import { Lock, Event, Queue, Value } from "@ipc-sampler/process";
      const names = [new Lock(), new Event(), new Queue(), new Value("f64")].map((x) => x.$shared.name);
      console.log(JSON.stringify(names));
    `], { cwd: new URL("..", import.meta.url).pathname, encoding: "utf8" });
    const names = JSON.parse(out) as string[];
    expect(names).toHaveLength(4);
    for (const n of names) expect(() => execFileSync("test", ["-e", `/dev/shm/${n}`])).toThrow();
  });
});
