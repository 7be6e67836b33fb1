// The benchmark's reference rows (bench/reference): each one builds, runs the
// scenario at a tiny size, verifies everything and prints one JSON record of
// the documented shape. Speed is never asserted here.
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { ScenarioEncoder } from "../packages/core/src/scenario.ts";
import { buildReferences, C_BINARY, C_MECHANISMS, findPython, referenceCommands, runReference } from "../bench/reference/index.mjs";
// @ts-ignore -- plain ESM without types
import { Encoder } from "../bench/reference/scenario.mjs";

type Rec = Record<string, any>;

const RUN_TIMEOUT_MS = 15_000; // per reference process; it is killed (with its children) after that

function expectStreamShape(r: Rec, want: { producers: number; messages: number; size: number }) {
  if (!r.ok) throw new Error(`${r.transport}: ${r.error ?? r.skipped ?? "not ok"}`);
  expect(r).toMatchObject({ ok: true, ...want });
  expect(typeof r.transport).toBe("string");
  expect(["reference-c", "node-ipc", "node-net", "python"]).toContain(r.kind);
  for (const k of ["elapsedMs", "msgsPerSec", "mbPerSec", "latencyP50Us", "latencyP99Us"]) {
    expect(typeof r[k], k).toBe("number");
    expect(r[k], k).toBeGreaterThanOrEqual(0);
  }
  expect(r.msgsPerSec).toBeGreaterThan(0);
  const full = Math.floor(want.messages / 100);
  const rest = want.messages % 100;
  expect(r.total).toBe((full * 5050 + (rest * (rest + 1)) / 2) * want.producers);
  for (const k of ["cpuMs", "peakRssBytes"]) {
    expect(typeof r[k].consumer, k).toBe("number");
    expect(typeof r[k].producers, k).toBe("number");
  }
  expect(r.peakRssBytes.consumer).toBeGreaterThan(0);
  expect(r.peakRssBytes.producers).toBeGreaterThan(0);
  expect(r.error).toBeUndefined();
}

async function run(mechanism: string, o: { producers?: number; messages?: number; size?: number; roundtrip?: number }) {
  const cmds = referenceCommands({ mechanism, ...o, timeoutS: 12 });
  expect(cmds).toHaveLength(1);
  return (await runReference(cmds[0], { timeoutMs: RUN_TIMEOUT_MS })) as Rec;
}

describe("bench references", () => {
  let built: Rec;
  beforeAll(() => {
    built = buildReferences();
  }, 60_000);

  it("builds the C references with the system compiler", () => {
    expect(built.error).toBeUndefined();
    expect(built.ok).toBe(true);
  });

  it("encodes scenario messages byte-for-byte like @ipc-sampler/core (C and plain JS)", () => {
    for (const [id, seq, size] of [[0, 5, 64], [1, 123456, 100], [3, 7, 33], [2, 99, 39], [1, 1, 40], [0, 2 ** 32 + 5, 4096], [0, 0, 32]] as const) {
      const want = Buffer.from(new ScenarioEncoder(id, size).encode(seq, 12345678)).toString("hex");
      const js = Buffer.from(new Encoder(id, size).encode(seq, 12345678)).toString("hex");
      expect(js, `js ${id}/${seq}/${size}`).toBe(want);
      const c = execFileSync(C_BINARY, ["encode", "--producer-id", String(id), "--seq", String(seq), "--size", String(size)]).toString().trim();
      expect(c, `c ${id}/${seq}/${size}`).toBe(want);
    }
  });

  describe.each(C_MECHANISMS as string[])("C %s", (mech) => {
    it("1 producer x 2,000 x 64 B", async () => {
      const r = await run(mech, { producers: 1, messages: 2000, size: 64 });
      expect(r.transport).toBe(`c-${mech}`);
      expectStreamShape(r, { producers: 1, messages: 2000, size: 64 });
    });

    it("2 producers x 1,000 x 100 B", async () => {
      const r = await run(mech, { producers: 2, messages: 1000, size: 100 });
      expectStreamShape(r, { producers: 2, messages: 1000, size: 100 });
    });

    it("round trip, 200 x 64 B", async () => {
      const r = await run(mech, { roundtrip: 200, size: 64 });
      if (!r.ok) throw new Error(`${r.transport}: ${r.error}`);
      expect(r).toMatchObject({ transport: `c-${mech}`, kind: "reference-c", mode: "roundtrip", size: 64, roundTrips: 200, ok: true });
      for (const k of ["p50Us", "p99Us", "p999Us"]) expect(r[k], k).toBeGreaterThan(0);
      expect(r.p50Us).toBeLessThanOrEqual(r.p99Us);
      expect(r.p99Us).toBeLessThanOrEqual(r.p999Us);
    });
  });

  it("C mqueue reports a message larger than msgsize_max as skipped, with the reason", async () => {
    const r = await run("mqueue", { producers: 1, messages: 10, size: 65536 });
    expect(r.ok).toBe(false);
    expect(r.skipped).toMatch(/msgsize_max/);
  });

  describe.each(["node-ipc-json", "node-ipc-advanced"])("%s", (transport) => {
    it("1 producer x 2,000 x 64 B", async () => {
      const r = await run(transport, { producers: 1, messages: 2000, size: 64 });
      expect(r).toMatchObject({ transport, kind: "node-ipc" });
      expectStreamShape(r, { producers: 1, messages: 2000, size: 64 });
    });

    it("2 producers x 500 x 1 KiB", async () => {
      const r = await run(transport, { producers: 2, messages: 500, size: 1024 });
      expectStreamShape(r, { producers: 2, messages: 500, size: 1024 });
    });
  });

  describe("node-net-uds", () => {
    it("1 producer x 2,000 x 64 B", async () => {
      const r = await run("node-net-uds", { producers: 1, messages: 2000, size: 64 });
      expect(r).toMatchObject({ transport: "node-net-uds", kind: "node-net" });
      expectStreamShape(r, { producers: 1, messages: 2000, size: 64 });
    });

    it("2 producers x 50 x 256 KiB (frames span many reads)", async () => {
      const r = await run("node-net-uds", { producers: 2, messages: 50, size: 262144 });
      expectStreamShape(r, { producers: 2, messages: 50, size: 262144 });
    });

    it("round trip, 200 x 64 B, each side pinned where it was asked to run", async () => {
      const cmds = referenceCommands({ mechanism: "node-net-uds", roundtrip: 200, size: 64, pingerCpu: 0, pongerCpu: 0, timeoutS: 12 });
      expect(cmds).toHaveLength(1);
      const r = (await runReference(cmds[0], { timeoutMs: RUN_TIMEOUT_MS })) as Rec;
      if (!r.ok) throw new Error(`${r.transport}: ${r.error}`);
      expect(r).toMatchObject({ transport: "node-net-uds", kind: "node-net", mode: "roundtrip", size: 64, roundTrips: 200, warmup: 20, pingerCpu: 0, pongerCpu: 0, cpus: { pinger: [0], ponger: [0] } });
      for (const k of ["p50Us", "p99Us", "p999Us"]) expect(r[k], k).toBeGreaterThan(0);
      expect(r.p50Us).toBeLessThanOrEqual(r.p99Us);
      expect(r.p99Us).toBeLessThanOrEqual(r.p999Us);
    });
  });

  const py = findPython();
  if (!py.python) console.warn(`python references skipped: ${py.reason}`);
  describe.each(["python-queue", "python-pipe", "python-shm-blocking", "python-shm-spin"])("%s", (transport) => {
    it.skipIf(!py.python)(`1 producer x 2,000 x 64 B${py.python ? "" : ` (skipped: ${py.reason})`}`, async () => {
      const r = await run(transport, { producers: 1, messages: 2000, size: 64 });
      expect(r).toMatchObject({ transport, kind: "python" });
      expectStreamShape(r, { producers: 1, messages: 2000, size: 64 });
    });

    it.skipIf(!py.python)(`2 producers x 500 x 1 KiB${py.python ? "" : ` (skipped: ${py.reason})`}`, async () => {
      const r = await run(transport, { producers: 2, messages: 500, size: 1024 });
      expectStreamShape(r, { producers: 2, messages: 500, size: 1024 });
    });
  });
});
