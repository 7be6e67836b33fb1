import { describe, expect, it } from "vitest";
import { ScenarioEncoder, ScenarioVerifier, expectedTotal, checksum32, monotonicNs, SCENARIO_HEADER_BYTES } from "../src/index.js";

function run(size: number, producers: number, count: number, mutate?: (msg: Uint8Array, p: number, seq: number) => Uint8Array | null) {
  const v = new ScenarioVerifier(producers, count, size);
  const encoders = Array.from({ length: producers }, (_, p) => new ScenarioEncoder(p, size));
  for (let seq = 0; seq < count; seq++) {
    for (let p = 0; p < producers; p++) {
      let msg: Uint8Array | null = encoders[p]!.encode(seq, 1000);
      if (mutate) msg = mutate(msg.slice(), p, seq);
      if (msg) v.verify(msg, 0, msg.length, 2000);
    }
  }
  return v.report();
}

describe("scenario format", () => {
  it("verifies a clean run and sums the expected total", () => {
    for (const size of [32, 33, 39, 40, 64, 1000, 65_536]) {
      const r = run(size, 2, 150);
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.total).toBe(expectedTotal(2, 150));
    }
  });

  it("the encoder's precomputed checksum equals a full checksum of the payload", () => {
    const e = new ScenarioEncoder(3, 4096);
    for (const seq of [0, 1, 99, 2 ** 32 + 5]) {
      const m = e.encode(seq);
      const dv = new DataView(m.buffer);
      expect(dv.getUint32(24, true)).toBe(checksum32(m, SCENARIO_HEADER_BYTES, m.length - SCENARIO_HEADER_BYTES));
    }
  });

  it("reports a gap, a duplicate, a reorder, a flipped payload bit and a missing tail", () => {
    const gap = run(64, 1, 10, (m, _p, seq) => (seq === 4 ? null : m));
    expect(gap.ok).toBe(false);
    expect(gap.problems.map((p) => p.kind)).toContain("gap");

    const v = new ScenarioVerifier(1, 3, 64);
    const e = new ScenarioEncoder(0, 64);
    const m0 = e.encode(0).slice();
    const m1 = e.encode(1).slice();
    v.verify(m0, 0, 64, 0);
    v.verify(m1, 0, 64, 0);
    v.verify(m1, 0, 64, 0);
    expect(v.report().problems.map((p) => p.kind)).toContain("duplicate");

    const flipped = run(64, 1, 5, (m, _p, seq) => {
      if (seq === 2) m[40] = m[40]! ^ 0x10;
      return m;
    });
    expect(flipped.problems.map((p) => p.kind)).toContain("checksum");

    const short = run(64, 2, 10, (m, p, seq) => (p === 1 && seq > 6 ? null : m));
    expect(short.problems.map((p) => p.kind)).toContain("missing");
  });

  it("rejects a message of the wrong size", () => {
    const v = new ScenarioVerifier(1, 1, 64);
    v.verify(new Uint8Array(63), 0, 63, 0);
    expect(v.report().problems[0]!.kind).toBe("size");
  });
});

describe("monotonicNs", () => {
  it("reads CLOCK_MONOTONIC: between two process.hrtime readings taken around it, within the calibration's bracket", () => {
    for (let i = 0; i < 100; i++) {
      const before = Number(process.hrtime.bigint());
      const now = monotonicNs();
      const after = Number(process.hrtime.bigint());
      // A 1 ms allowance: the origin is calibrated once, from the tightest of several hrtime brackets.
      expect(now).toBeGreaterThan(before - 1e6);
      expect(now).toBeLessThan(after + 1e6);
    }
  });
});
