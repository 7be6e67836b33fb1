import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
// The built module: its children are dist/shared-counter-child.js (build first).
const { runSharedCounter } = (await import(new URL("../dist/shared-counter.js", import.meta.url).href)) as typeof import("../src/shared-counter.js");
describe("shared counter", () => {
  it("with the lock every increment counts", async () => {
    const r = await runSharedCounter({ processes: 2, increments: 5_000, lock: true, prefix: "ipcs-sc-", timeoutMs: 30_000 });
    expect(r).toMatchObject({ expected: 10_000, actual: 10_000, ok: true, lost: 0 });
    expect(readdirSync("/dev/shm").filter((n) => n.includes(`ipcs-sc-counter-${process.pid}-`))).toEqual([]);
  });

  it("without the lock updates are lost", async () => {
    const r = await runSharedCounter({ processes: 2, increments: 20_000, lock: false, prefix: "ipcs-sc-", timeoutMs: 30_000 });
    expect(r.expected).toBe(40_000);
    expect(r.ok).toBe(false);
    expect(r.actual).toBeLessThan(40_000);
    expect(r.lost).toBe(40_000 - r.actual);
  });
});
