import { afterAll, describe, expect, it } from "vitest";
import { asCompleted, CancelledError, Executor, wait, WorkerLostError } from "../dist/index.js";
import type * as Tasks from "./fixtures/tasks.mjs";
import { killAll, tasks } from "./helpers.js";

afterAll(killAll);

describe("Executor", () => {
  it("submit, asCompleted, wait, cancel; a dead worker fails only its future", async () => {
    await using ex = await Executor.create<typeof Tasks>({ module: tasks, maxWorkers: 2 });
    const slow = ex.submit("sleep", 300, "slow");
    const fast = ex.submit("sleep", 10, "fast");
    const order: unknown[] = [];
    for await (const f of asCompleted([slow, fast], { timeoutMs: 10_000 })) order.push(await f.result());
    expect(order).toEqual(["fast", "slow"]);
    expect(slow.done()).toBe(true);

    const a = ex.submit("sleep", 400, 1);
    const b = ex.submit("sleep", 20, 2);
    const { done, notDone } = await wait([a, b], { returnWhen: "FIRST_COMPLETED" });
    expect(done.has(b) && notDone.has(a)).toBe(true);
    await expect(a.result({ timeoutMs: 10 })).rejects.toMatchObject({ code: "ETIMEDOUT" });
    expect(await a.result()).toBe(1);

    const failing = ex.submit("failQuota");
    expect(await failing.exception()).toMatchObject({ name: "QuotaError" });

    const dead = ex.submit("killSelf");
    const alongside = ex.submit("sleep", 100, "ok");
    await expect(dead.result()).rejects.toBeInstanceOf(WorkerLostError);
    expect(await alongside.result()).toBe("ok");
    expect(await ex.submit("add", 1, 2).result()).toBe(3);

    // Both workers busy: the third future waits in the queue and can be cancelled.
    const busy = [ex.submit("sleep", 300, 0), ex.submit("sleep", 300, 0)];
    const queued = ex.submit("add", 1, 1);
    const running = busy[0]!;
    await new Promise((r) => setTimeout(r, 50));
    expect(running.cancel()).toBe(false);
    expect(queued.cancel()).toBe(true);
    await expect(queued.result()).rejects.toBeInstanceOf(CancelledError);
    await Promise.all(busy.map((f) => f.result()));
  });

  it("shutdown({ cancelFutures }) cancels what waits; a shut executor refuses with ECLOSED", async () => {
    const ex = await Executor.create<typeof Tasks>({ module: tasks, maxWorkers: 1, prefetch: 1 });
    // submit hands the first to the only worker at once; the others wait in the queue.
    const first = ex.submit("sleep", 500, 1);
    const rest = [ex.submit("add", 1, 1), ex.submit("add", 2, 2)];
    expect(first.running()).toBe(true);
    await ex.shutdown({ wait: true, cancelFutures: true });
    expect(await first.result()).toBe(1);
    expect(rest.every((f) => f.cancelled())).toBe(true);
    expect(() => ex.submit("add", 1, 1)).toThrow(expect.objectContaining({ code: "ECLOSED" }));
  });
});
