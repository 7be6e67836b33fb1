import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { buildReferences, C_MECHANISMS, referenceCommands, runReference } from "../../../bench/reference/index.mjs";
import { placementProblem, referencePlacement, type Placement } from "../src/placement.js";

// The bench's round-trip placements for the C references: "split-cpu" must
// really put the pinger and the forked ponger on different CPUs. The C
// program reports the CPUs each side was seen on (sched_getcpu); these tests
// check that report, never speed.

type Rec = Record<string, any>;

const canPin = [0, 1].every((cpu) => spawnSync("taskset", ["-c", String(cpu), "true"]).status === 0);
const noPin = "needs taskset and CPUs 0 and 1 in this process's affinity";
if (!canPin) console.warn(`bench placement tests skipped: ${noPin}`);

async function roundTrip(mechanism: string, placement: Placement): Promise<Rec> {
  const cmds = referenceCommands({ mechanism, roundtrip: 300, size: 64, ...referencePlacement(placement), timeoutS: 12 });
  expect(cmds).toHaveLength(1);
  return (await runReference(cmds[0]!, { timeoutMs: 15_000 })) as Rec;
}

describe("C reference round trips by placement", () => {
  beforeAll(() => {
    const built = buildReferences();
    if (!built.ok) throw new Error(built.error);
  }, 60_000);

  describe.each(C_MECHANISMS as string[])("C %s", (mech) => {
    it.skipIf(!canPin)(`split-cpu runs the pinger on CPU 0 and the ponger on CPU 1${canPin ? "" : ` (skipped: ${noPin})`}`, async () => {
      const r = await roundTrip(mech, "split-cpu");
      if (!r.ok) throw new Error(`${r.transport}: ${r.error ?? r.skipped}`);
      expect(r).toMatchObject({ transport: `c-${mech}`, pingerCpu: 0, pongerCpu: 1 });
      expect(r.cpus).toEqual({ pinger: [0], ponger: [1] });
      expect(placementProblem("split-cpu", r)).toBeUndefined();
    });

    it.skipIf(!canPin)(`same-cpu runs both on CPU 0${canPin ? "" : ` (skipped: ${noPin})`}`, async () => {
      const r = await roundTrip(mech, "same-cpu");
      if (!r.ok) throw new Error(`${r.transport}: ${r.error ?? r.skipped}`);
      expect(r.cpus).toEqual({ pinger: [0], ponger: [0] });
      expect(placementProblem("same-cpu", r)).toBeUndefined();
    });
  });

  it.skipIf(!canPin)("a taskset around the C parent alone leaves the forked ponger on the parent's CPU (why the C side pins itself)", async () => {
    const [cmd] = referenceCommands({ mechanism: "pipe", roundtrip: 300, size: 64, timeoutS: 12 });
    const r = (await runReference({ ...cmd!, argv: ["taskset", "-c", "0", ...cmd!.argv] }, { timeoutMs: 15_000 })) as Rec;
    if (!r.ok) throw new Error(`${r.transport}: ${r.error}`);
    expect(r.cpus).toEqual({ pinger: [0], ponger: [0] });
    expect(placementProblem("split-cpu", r)).toMatch(/ponger should run on CPU 1 only but ran on CPUs \[0\]/);
  });

  it("rejects a C record that does not say where it ran, and passes unpinned runs and failed runs through", () => {
    expect(placementProblem("split-cpu", { ok: true, p50Us: 3 })).toMatch(/does not say which CPUs the pinger ran on/);
    expect(placementProblem("split-cpu", { ok: true, cpus: { pinger: [0, 1], ponger: [1] } })).toMatch(/pinger should run on CPU 0 only/);
    expect(placementProblem("unpinned", { ok: true, cpus: { pinger: [0, 1], ponger: [0, 1] } })).toBeUndefined();
    expect(placementProblem("split-cpu", { ok: false, error: "timed out" })).toBeUndefined();
    expect(referencePlacement("split-cpu")).toEqual({ pingerCpu: 0, pongerCpu: 1 });
    expect(referencePlacement("unpinned")).toEqual({});
  });

  it("fails the run when a side cannot be pinned (a CPU this machine does not have)", async () => {
    const [cmd] = referenceCommands({ mechanism: "pipe", roundtrip: 100, size: 64, pongerCpu: 1023, timeoutS: 12 });
    const r = (await runReference(cmd!, { timeoutMs: 15_000 })) as Rec;
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/cannot pin the echo process to CPU 1023/);
  });
});
