/**
 * The conformance kit: the behaviour every transport must show, written once
 * against the core interfaces. A transport's test file calls
 * `runConformance({...})` with its own transport; producers run as separate
 * Node processes that import the transport's built module.
 */
import { existsSync, rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { ChannelError } from "../errors.js";
import { isReservingSender, type ListenOptions, type MessageBatch, type PollingReceiver, type Receiver } from "../interface.js";
import { checksum32 } from "../checksum.js";
import { ScenarioVerifier, monotonicNs } from "../scenario.js";
import { fillPattern, watchLoopGaps, type ProducerPlan } from "./plan.js";

export { fillPattern, type ProducerPlan } from "./plan.js";
export * from "./processes.js";
export * from "./fixtures.js";
export * from "./hooks.js";
export { readInPlace, readNumbered, reusePattern } from "./reuse.js";
import { killStartedProcesses, startProcess } from "./processes.js";
import { startProducer, startReceiverProcess, withTimeout, collect, verifyScenario, openFds, moduleUrlOf, PRODUCER_SCRIPT, type ConformanceTarget } from "./target.js";
import { registerPidLivenessChecks } from "./liveness.js";

export type { ConformanceTarget } from "./target.js";

export function runConformance(target: ConformanceTarget): void {
  const d = target.skip ? describe.skip : describe;
  if (target.skip) console.warn(`conformance: skipping ${target.name}: ${target.skip}`);

  d(`conformance: ${target.name}`, () => {
    const receivers: Receiver[] = [];
    const listen = async (options: ListenOptions = {}) => {
      const r = await target.transport.listen({ ...target.listenOptions, ...options });
      receivers.push(r);
      return r;
    };

    afterEach(async () => {
      killStartedProcesses();
      for (const r of receivers.splice(0)) await r.close();
    });

    it.skipIf(!target.reserving)(`reserve → fill → commit: one reservation at a time, typed misuse errors, an uncommitted reservation never delivered${target.reserving ? "" : " (skipped: not a ReservingSender)"}`, async () => {
      const r = await listen({ expectedProducers: 1 });
      const s = await target.transport.connect(r.address);
      if (!isReservingSender(s)) throw new Error(`${target.name}: connect() did not return a ReservingSender`);
      const code = (f: () => unknown) => {
        try {
          f();
        } catch (err) {
          return err instanceof ChannelError ? err.code : (err as Error).name;
        }
        return "none";
      };
      expect(code(() => s.commit())).toBe("EPERM");
      expect(code(() => s.reserve(s.maxMessageSize + 1))).toBe("EMSGSIZE");
      expect(code(() => s.reserve(1.5))).toBe("RangeError");
      const view = s.reserve(16)!;
      expect(view.length).toBe(16);
      view.fill(0xab);
      expect(code(() => s.write(new Uint8Array(4)))).toBe("EBUSY");
      expect(code(() => s.reserve(4))).toBe("EBUSY");
      expect(code(() => s.commit(17))).toBe("RangeError");
      s.commit(10);
      expect(code(() => s.commit())).toBe("EPERM");
      s.write(new Uint8Array([1, 2, 3]));
      s.reserve(8)!.fill(0xcd); // never committed: close drops it
      await s.close();
      const got: number[][] = [];
      for await (const b of r.batches()) for (let i = 0; i < b.count; i++) got.push([...b.data.subarray(b.offsets[2 * i]!, b.offsets[2 * i]! + b.offsets[2 * i + 1]!)]);
      expect(got).toEqual([new Array(10).fill(0xab), [1, 2, 3]]);
    });

    it("delivers one message whole", async () => {
      const r = await listen({ expectedProducers: 1 });
      const p = await startProducer(r, target, { kind: "raw", sizes: [100], seed: 1 });
      const got = await collect(r);
      expect(got).toHaveLength(1);
      expect(Buffer.from(got[0]!)).toEqual(Buffer.from(fillPattern(new Uint8Array(100), 1)));
      expect((await p.exit).code).toBe(0);
    });

    it("delivers an empty message", async () => {
      const r = await listen({ expectedProducers: 1 });
      const p = await startProducer(r, target, { kind: "raw", sizes: [0, 5, 0], seed: 2 });
      const got = await collect(r);
      expect(got.map((m) => m.length)).toEqual([0, 5, 0]);
      expect((await p.exit).code).toBe(0);
    });

    it("delivers the largest allowed message intact", async () => {
      const r = await listen({ expectedProducers: 1 });
      const max = r.maxMessageSize;
      const p = await startProducer(r, target, { kind: "raw", sizes: [max], seed: 3 });
      const got = await collect(r, 60_000);
      expect(got).toHaveLength(1);
      expect(got[0]!.length).toBe(max);
      expect(checksum32(got[0]!)).toBe(checksum32(fillPattern(new Uint8Array(max), 3)));
      expect((await p.exit).code).toBe(0);
    });

    it("rejects a message one byte over the limit with EMSGSIZE and sends nothing", async () => {
      const r = await listen({ expectedProducers: 1 });
      const p = await startProducer(r, target, { kind: "oversize" });
      const got = await collect(r);
      expect(got.map((m) => Array.from(m))).toEqual([[1, 2, 3]]);
      const line = await p.waitFor((l) => "oversize" in l);
      expect(line.oversize).toMatchObject({ code: "EMSGSIZE", name: "ChannelError" });
      expect((await p.exit).code).toBe(0);
    });

    it("delivers large messages as they were when written, though the producer overwrites its one buffer right after each write()", async () => {
      const r = await listen({ expectedProducers: 1 });
      const size = Math.min(r.maxMessageSize, 1 << 20);
      const count = 16;
      // The kernel takes part of a large write now and the rest later: what it has not taken must have been copied.
      const p = await startProducer(r, target, { kind: "rewrite", count, size });
      const got = await collect(r, 60_000);
      expect(got).toHaveLength(count);
      const want = new Uint8Array(size);
      const bad = got.map((m, i) => (m.length === size && checksum32(m) === checksum32(fillPattern(want, i)) ? -1 : i)).filter((i) => i >= 0);
      expect(bad, "messages that changed after write()").toEqual([]);
      expect((await p.exit).code).toBe(0);
    });

    it("delivers 10,000 messages in order", async () => {
      const r = await listen({ expectedProducers: 1 });
      const p = await startProducer(r, target, { kind: "scenario", producerId: 0, count: 10_000, size: 64 });
      const report = await verifyScenario(r, 1, 10_000, 64);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect((await p.exit).code).toBe(0);
    });

    it("delivers every message a producer wrote while ignoring write()'s false, without drain() or close()", async () => {
      const count = 2_048;
      const r = await listen({ expectedProducers: 1 });
      const p = await startProducer(r, target, { kind: "ignore-false", count, size: 8_192 });
      const it = r.batches();
      let got = 0;
      await withTimeout(
        (async () => {
          while (got < count) {
            const b = await it.next();
            if (b.done) break;
            got += b.value.count;
          }
        })(),
        20_000,
        "receiving what write() queued",
      );
      expect(got).toBe(count);
      const line = await p.waitFor((l) => "written" in l);
      expect(line.written).toBe(count);
      p.child.kill("SIGKILL");
      await p.exit;
    });

    it("keeps per-producer order with several producers at once", async () => {
      const r = await listen({ expectedProducers: 3 });
      const ps = [];
      for (let id = 0; id < 3; id++) ps.push(await startProducer(r, target, { kind: "scenario", producerId: id, count: 3_000, size: 100 }));
      const report = await verifyScenario(r, 3, 3_000, 100);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      for (const p of ps) expect((await p.exit).code).toBe(0);
      expect(r.producers).toMatchObject({ closed: 3, lost: 0 });
    });

    it("keeps large messages whole and in order with several producers writing at once into a full channel", async () => {
      const r = await listen({ expectedProducers: 3 });
      const big = Math.min(r.maxMessageSize, 300 * 1024);
      // Producer k's sizes are ≡ k (mod 3), so a message's size says whose it is; a small one after every two large.
      const spread = Math.max(1, Math.min(97, Math.floor(big / 6)));
      const sizeOf = (k: number, i: number) => (i % 3 === 2 ? 30 + 3 * i + k : big - 3 * ((i * 37) % spread) - ((big - k) % 3));
      const plans = [0, 1, 2].map((k) => Array.from({ length: 18 }, (_, i) => sizeOf(k, i)));
      const ps = [];
      for (let k = 0; k < 3; k++) ps.push(await startProducer(r, target, { kind: "raw", sizes: plans[k]!, seed: 40 + k }));
      // Nobody reads for a while: the channel fills and the producers wait for room at once.
      await new Promise((res) => setTimeout(res, 300));
      const got = await collect(r, 60_000);
      const next = [0, 0, 0];
      const wrong: string[] = [];
      for (const m of got) {
        const k = m.length % 3;
        const want = plans[k]![next[k]!];
        if (m.length !== want) wrong.push(`producer ${k}: message ${next[k]} is ${m.length} bytes, expected ${want}`);
        else if (!Buffer.from(m).equals(fillPattern(new Uint8Array(m.length), 40 + k))) wrong.push(`producer ${k}: message ${next[k]} (${m.length} bytes) is not what was sent`);
        next[k]!++;
      }
      expect(wrong).toEqual([]);
      expect(next).toEqual(plans.map((p) => p.length));
      for (const p of ps) expect((await p.exit).code).toBe(0);
    }, 90_000);

    it("ends iteration when every producer has closed", async () => {
      const r = await listen();
      const p = await startProducer(r, target, { kind: "scenario", producerId: 0, count: 500, size: 64 });
      const report = await verifyScenario(r, 1, 500, 64, 20_000);
      expect(report.ok).toBe(true);
      expect((await p.exit).code).toBe(0);
      expect(r.producers).toMatchObject({ closed: 1, lost: 0 });
    });

    it("reports a producer killed with SIGKILL within 1 s and never yields a partial message", async () => {
      const lost: Array<{ error: ChannelError; at: number }> = [];
      const r = await listen({ expectedProducers: 1, onPeerLost: (error) => lost.push({ error, at: Date.now() }) });
      const bigSize = Math.min(r.maxMessageSize, 256 * 1024);
      const p = await startProducer(r, target, { kind: "kill-mid", count: 200, size: 64, bigSize });
      const sizes: number[] = [];
      const bigSum = checksum32(fillPattern(new Uint8Array(bigSize), 7));
      let torn = 0;
      const verifier = new ScenarioVerifier(1, 200, 64);
      const receiving = (async () => {
        for await (const m of r) {
          sizes.push(m.length);
          if (m.length === 64) verifier.verify(m, 0, 64, monotonicNs());
          else if (m.length !== bigSize || checksum32(m) !== bigSum) torn++;
        }
      })();
      await withTimeout(p.waitFor((l) => l.ready === true), 20_000, "producer start");
      await new Promise((res) => setTimeout(res, 30));
      const killedAt = Date.now();
      p.child.kill("SIGKILL");
      await withTimeout(receiving, 10_000, "receiving after the kill");
      expect(torn).toBe(0);
      expect(verifier.report().problems).toEqual([]);
      expect(sizes.filter((s) => s === 64)).toHaveLength(200);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.error).toBeInstanceOf(ChannelError);
      expect(lost[0]!.error.code).toBe("EPEERGONE");
      expect(lost[0]!.at - killedAt).toBeLessThan(1000);
      expect(r.producers).toMatchObject({ lost: 1 });
    });

    it("keeps the event loops of the receiving and the sending process turning while a producer sends without a pause", async () => {
      // A receiver that finds a message ready every time it looks must still
      // hand the event loop back now and then: the process it lives in has
      // timers, sockets and child processes to serve too.
      const r = await listen({ expectedProducers: 1 });
      const size = Math.min(r.maxMessageSize, 64 * 1024);
      const sum = checksum32(fillPattern(new Uint8Array(size), 7));
      let received = 0;
      let torn = 0;
      const receiving = (async () => {
        for await (const m of r) {
          received++;
          if (m.length !== size || ((received & 63) === 0 && checksum32(m) !== sum)) torn++;
        }
      })();
      const p = await startProducer(r, target, { kind: "flood", size, ms: 2000 });
      await withTimeout(p.waitFor((l) => l.ready === true), 20_000, "producer start");
      const gaps = watchLoopGaps();
      let worst: number;
      try {
        const done = await withTimeout(p.waitFor((l) => l.done === true || "fatal" in l), 20_000, "the flood");
        await withTimeout(receiving, 10_000, "receiving after the flood");
        expect(done.sent).toBe(received);
        expect(done.worstGapMs).toBeLessThan(500);
      } finally {
        worst = gaps.stop();
      }
      expect(torn).toBe(0);
      expect(received).toBeGreaterThan(16);
      // Starved, the timer would wait for the whole flood (2 s).
      expect(worst).toBeLessThan(500);
    });

    registerPidLivenessChecks({ name: target.name, listen, startProducer: (r, plan, wrap) => startProducer(r, target, plan, wrap), withTimeout });

    it("throws the lost producer's error from iteration when no handler is set", async () => {
      const r = await listen({ expectedProducers: 1 });
      const p = await startProducer(r, target, { kind: "kill-mid", count: 10, size: 64, bigSize: 64 });
      await withTimeout(p.waitFor((l) => l.ready === true), 20_000, "producer start");
      p.child.kill("SIGKILL");
      const err = await withTimeout(
        (async () => {
          try {
            for await (const _ of r) {
              // drain
            }
          } catch (e) {
            return e;
          }
          return undefined;
        })(),
        10_000,
        "receiving",
      );
      expect(err).toBeInstanceOf(ChannelError);
      expect((err as ChannelError).code).toBe("EPEERGONE");
    });

    it("rejects send with a typed error when the receiver goes away, without crashing the producer", async () => {
      const r = await listen({ expectedProducers: 1, onPeerLost: () => {} });
      const p = await startProducer(r, target, { kind: "until-gone", size: 64 });
      let n = 0;
      for await (const _ of r) {
        if (++n >= 100) break;
      }
      await r.close();
      const line = await withTimeout(p.waitFor((l) => "error" in l || "fatal" in l), 10_000, "the producer's send failing");
      expect(line.error).toMatchObject({ name: "ChannelError" });
      expect(["EPEERGONE", "ECLOSED"]).toContain((line.error as { code: string }).code);
      expect(await withTimeout(p.exit, 10_000, "producer exit")).toEqual({ code: 0, signal: null });
    });

    it("a producer that comes after the receiver closed fails with a typed error within its timeout", async () => {
      const r = await listen({ expectedProducers: 1 });
      const p = await startProducer(r, target, { kind: "late", timeoutMs: 500 });
      await r.close(); // long before the producer process has loaded its module
      const line = await withTimeout(p.waitFor((l) => "error" in l || "done" in l || "fatal" in l), 10_000, "the late producer");
      expect(line.error, JSON.stringify(line)).toMatchObject({ name: "ChannelError" });
      expect(["ETIMEDOUT", "EPEERGONE", "ECLOSED"]).toContain((line.error as { code: string }).code);
      expect(line.ms).toBeLessThan(500 + 3000);
      expect(await withTimeout(p.exit, 10_000, "producer exit")).toEqual({ code: 0, signal: null });
    });

    if (target.leftovers) {
      const leftovers = target.leftovers;
      it.each(["SIGINT", "SIGTERM", "exit"] as const)("removes what the receiver created when its process ends by %s (exit: process.exit without close())", async (end) => {
        const { process: p, address } = await startReceiverProcess(target, target.listenOptions ?? {}, end === "exit" ? "exit" : "signal");
        const names = await leftovers({ address });
        expect(names.length).toBeGreaterThan(0);
        expect(names.filter((n) => !existsSync(n))).toEqual([]); // all there while it runs
        if (end !== "exit") p.child.kill(end);
        expect(await withTimeout(p.exit, 10_000, "the receiving process's exit")).toEqual(end === "exit" ? { code: 0, signal: null } : { code: null, signal: end });
        expect(names.filter((n) => existsSync(n))).toEqual([]);
      });
    }

    if (!target.transport.descriptor.relatedProcessesOnly) {
      it("a producer waiting on a receiver that is killed with SIGKILL fails with a typed error and exits", async () => {
        const { process: rp, address } = await startReceiverProcess(target, { ...(target.listenOptions ?? {}), expectedProducers: 1 }, "signal");
        try {
          // The receiver never reads: the producer fills what the channel holds, then waits.
          const p = startProcess([PRODUCER_SCRIPT, moduleUrlOf(target), target.exportName, JSON.stringify(address), JSON.stringify({ kind: "until-gone", size: 64 })], {
            timeoutMs: 30_000,
          });
          const connected = await withTimeout(p.waitFor((l) => "connected" in l || "error" in l || "fatal" in l), 15_000, "the producer connecting");
          expect(connected.connected, JSON.stringify(connected)).toBe(true);
          await new Promise((res) => setTimeout(res, 300));
          expect(p.lines.filter((l) => "error" in l || "fatal" in l)).toEqual([]); // still sending or waiting
          rp.child.kill("SIGKILL");
          await rp.exit;
          const report = await withTimeout(p.waitFor((l) => "error" in l || "fatal" in l), 10_000, "the producer noticing");
          expect(report.error, JSON.stringify(report)).toMatchObject({ name: "ChannelError" });
          expect(["EPEERGONE", "ECLOSED"]).toContain((report.error as { code: string }).code);
          expect(await withTimeout(p.exit, 10_000, "producer exit")).toEqual({ code: 0, signal: null });
        } finally {
          rp.child.kill("SIGKILL");
          await rp.exit;
          for (const n of target.leftovers ? await target.leftovers({ address }) : []) rmSync(n, { recursive: true, force: true });
          await target.removeAfterKill?.(address);
        }
      }, 40_000);
    }

    if (!target.transport.descriptor.relatedProcessesOnly) {
      it("answers requests written with write() alone, each before the next is written", async () => {
        const r = await listen({ expectedProducers: 1 });
        const { process: echo, address } = await startReceiverProcess(target, { ...(target.listenOptions ?? {}), expectedProducers: 1 }, { echoTo: r.address });
        const s = await target.transport.connect(address);
        const poll = (r as Partial<PollingReceiver>).tryReceive?.bind(r);
        const answers = r.batches();
        const request = new Uint8Array(64);
        for (let i = 0; i < 20; i++) {
          request[0] = i;
          s.write(request);
          let b: MessageBatch | undefined;
          if (poll) {
            // Without yielding: the request must be published before this process polls for the answer.
            for (let n = 0, deadline = Date.now() + 10_000; !(b = poll()); n++) {
              if ((n & 1023) === 0 && Date.now() > deadline) throw new Error(`no answer to request ${i} while polling`);
            }
          } else {
            b = (await withTimeout(answers.next(), 10_000, `the answer to request ${i}`)).value as MessageBatch;
          }
          expect(b.count).toBe(1);
          expect(b.data[b.offsets[0]!]).toBe(i);
        }
        await s.close();
        expect(await withTimeout(echo.exit, 10_000, "the echo process")).toEqual({ code: 0, signal: null });
      });
    }

    it("leaves no resource and no descriptor behind after close", async () => {
      const before = openFds();
      const r = await target.transport.listen({ ...target.listenOptions, expectedProducers: 1 });
      const p = await startProducer(r, target, { kind: "scenario", producerId: 0, count: 100, size: 64 });
      const report = await verifyScenario(r, 1, 100, 64);
      expect(report.ok).toBe(true);
      await p.exit;
      const names = target.leftovers ? await target.leftovers(r) : [];
      await r.close();
      expect(r.closed).toBe(true);
      if (target.leftovers) {
        expect(names.filter((n) => existsSync(n))).toEqual([]);
      }
      const prefix = (target.listenOptions?.prefix as string | undefined) ?? undefined;
      if (target.transport.list) {
        const mine = (await target.transport.list(prefix)).filter((n) => n.includes(`-${process.pid}-`));
        expect(mine).toEqual([]);
      }
      // Sockets close asynchronously; give the loop a turn.
      await new Promise((res) => setTimeout(res, 50));
      expect(openFds()).toBeLessThanOrEqual(before);
    });
  });
}
export { runNamedKindConformance, pidNamespaceUnavailable, type NamedKindTarget } from "./lifecycle.js";
