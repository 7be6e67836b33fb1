import { describe, expect, it } from "vitest";
import type { MechanismDescriptor } from "@ipc-sampler/core";
import { whatLimits } from "../src/format.js";
import { LOADED_LATENCY, type RunRecord } from "../src/run.js";

function record(transport: string, msgsPerSec: number, received = 200_000): RunRecord {
  return {
    transport, scenario: "stream", producers: 2, messages: received / 2, size: 64, elapsedMs: (received / msgsPerSec) * 1000, msgsPerSec, mbPerSec: (msgsPerSec * 64) / 1e6,
    latencyP50Us: 1, latencyP99Us: 2, latency: LOADED_LATENCY, total: 1, expectedTotal: 1, received, ok: true,
    cpuMs: { consumer: received / 1000, producers: received / 500 }, peakRssBytes: { consumer: 1, producers: 1 },
  };
}

const copies = (n: number) => ({ copiesPerMessage: n }) as MechanismDescriptor;

describe("the line under --transport all", () => {
  it("at small sizes names the per-message JavaScript, its CPU per message, and where the mechanisms differ", () => {
    const line = whatLimits([record("uds", 1.2e6), record("shm", 1.5e6)], 64, new Map());
    expect(line).toMatch(/^What limits this table: at 64 B the scenario's per-message JavaScript \(encode, checksum, verify: ~1\.00 us of consumer and ~2\.00 us of producer CPU per message\), not the mechanism, so the rows look alike \(fastest\/slowest 1\.3x\)\. /);
    expect(line).toMatch(/--size 64KiB or --size 1MiB/);
  });

  it("leaves out CPU per message for short runs, where process start-up dominates it, and says when the rows differ more than that explains", () => {
    const line = whatLimits([record("uds", 1e5, 4000), record("shm", 5e5, 4000)], 64, new Map());
    expect(line).not.toMatch(/us of consumer/);
    expect(line).toMatch(/5\.0x apart, more than that explains/);
  });

  it("at large sizes names the transports that copy each message once", () => {
    const line = whatLimits([record("uds", 300), record("shm", 1500)], 1024 * 1024, new Map([["uds", copies(2)], ["shm", copies(1)]]));
    expect(line).toMatch(/^What limits this table: at 1 MiB copying the bytes does: shm copy each message once, the others 2 times; fastest here shm/);
  });
});
