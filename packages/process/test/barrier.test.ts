import { afterAll, describe, expect, it } from "vitest";
import { Barrier, BrokenBarrierError, Process, SharedArray } from "../dist/index.js";
import { killAll, startTracked } from "./helpers.js";

const tasks = new URL("./fixtures/barrier-tasks.mjs", import.meta.url);
afterAll(killAll);

const run = (target: string, args: unknown[]): Promise<Process> => startTracked(tasks, target, args);

describe.concurrent("Barrier across processes", () => {
  it("runs the action once per trip, in one party, before anyone is released", async () => {
    const barrier = new Barrier(3);
    const trips = new SharedArray("i32", 1, { lock: false });
    const ps = await Promise.all([0, 1, 2].map(() => run("party", [barrier, trips, 5])));
    expect(await Promise.all(ps.map((p) => p.join({ timeoutMs: 30_000 })))).toEqual([0, 0, 0]);
    expect(trips.get(0)).toBe(5);
    expect(barrier.broken).toBe(false);
  });

  it("a party that dies before arriving breaks the barrier: the waiters get BrokenBarrierError naming it", async () => {
    const barrier = new Barrier(3);
    const out = new SharedArray("i32", 2, { lock: false });
    const staller = await run("stall", [barrier]);
    const waiters = await Promise.all([0, 1].map((i) => run("waitAndReport", [barrier, out, i])));
    // both waiters are asleep in the barrier before the third party dies
    for (let t = 0; barrier.nWaiting < 2 && t < 400; t++) await new Promise((r) => setTimeout(r, 25));
    expect(barrier.nWaiting).toBe(2);
    staller.kill();
    expect(await Promise.all(waiters.map((p) => p.join({ timeoutMs: 15_000 })))).toEqual([0, 0]);
    expect([out.get(0), out.get(1)]).toEqual([2, 2]);
    expect(barrier.broken).toBe(true);
    // A later wait fails at once; reset() forgets the dead party.
    await expect(barrier.wait({ timeoutMs: 50 })).rejects.toBeInstanceOf(BrokenBarrierError);
    barrier.reset();
    expect(barrier.broken).toBe(false);
  });

  it("a party that died before anyone waits breaks the next wait at once", async () => {
    const barrier = new Barrier(2);
    const opened = new SharedArray("i32", 1, { lock: false });
    const staller = await run("stall", [barrier, opened]);
    for (let t = 0; opened.get(0) === 0 && t < 400; t++) await new Promise((r) => setTimeout(r, 25));
    staller.kill();
    await staller.join({ timeoutMs: 10_000 });
    await expect(barrier.wait({ timeoutMs: 10_000 })).rejects.toThrow(/party pid \d+ exited before arriving/);
  });

  it("an action that throws breaks the barrier; its party gets the error, the others BrokenBarrierError", async () => {
    const barrier = new Barrier(2);
    const out = new SharedArray("i32", 2, { lock: false });
    const ps = await Promise.all([0, 1].map((i) => run("failingAction", [barrier, out, i])));
    await Promise.all(ps.map((p) => p.join({ timeoutMs: 30_000 })));
    expect([out.get(0), out.get(1)].sort()).toEqual([2, 4]);
    expect(barrier.broken).toBe(true);
  });
});
