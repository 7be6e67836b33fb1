// The fuzzing suite, bounded: a couple of seconds per transport in CI (and
// in plain `pnpm test`). `pnpm fuzz` runs the same thing for 30 s per
// transport (FUZZ_SECONDS or --seconds for longer). See tests/fuzz/fuzz.mjs.
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module without types
import { fuzzTransport } from "./fuzz/fuzz.mjs";

const SECONDS = Number(process.env.FUZZ_SECONDS ?? (process.env.CI ? 2 : 1));
const SEED = Number(process.env.FUZZ_SEED ?? (Date.now() >>> 0));

describe(`fuzz: hostile peers (${SECONDS} s per transport, seed ${SEED})`, () => {
  for (const id of ["uds", "tcp", "fifo", "mqueue", "shm", "mmap", "semaphore", "zeromq", "pipe"]) {
    it(`${id}: the receiver stays up, answers, reports only typed errors, delivers nothing over maxMessageSize, ends every producer it counted, stays bounded and idle; a good producer still gets through (or a shared stream ended with EPROTO)`, async () => {
      const res = (await fuzzTransport(id, { seconds: SECONDS, seed: SEED })) as { findings: string[]; rounds: number };
      expect(res.findings, `seed ${SEED}`).toEqual([]);
      expect(res.rounds).toBeGreaterThan(0);
    }, 60_000 + SECONDS * 1000);
  }
});
