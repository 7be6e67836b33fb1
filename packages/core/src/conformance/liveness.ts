import { expect, it } from "vitest";
import { checksum32 } from "../checksum.js";
import type { ChannelError } from "../errors.js";
import type { ListenOptions, Receiver } from "../interface.js";
import { ScenarioVerifier, monotonicNs } from "../scenario.js";
import { pidNamespaceUnavailable } from "./lifecycle.js";
import { fillPattern, type ProducerPlan } from "./plan.js";
import { isProcessAlive } from "../names.js";
import { isZombie, type WatchedProcess } from "./processes.js";

/** What the liveness checks need from the conformance suite that registers them. */
export interface LivenessContext {
  name: string;
  listen(options: ListenOptions): Promise<Receiver>;
  startProducer(receiver: Receiver, plan: ProducerPlan, wrap?: readonly string[]): Promise<WatchedProcess>;
  withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T>;
}

/** Registers, inside a transport's conformance suite, the checks that a producer's liveness never depends on its pid. */
export function registerPidLivenessChecks(ctx: LivenessContext): void {
  // Liveness without pids. In pid namespaces of their own, each producer
  // is pid 1 there, which here is the live init (SIGKILL of unshare kills
  // its child: --kill-child). Under a parent that never reaps it (sh that
  // became `sleep`, holding none of the inherited ends), a killed producer
  // stays a zombie, which kill(pid, 0) still finds. Either way its death must be seen within 1 s.
  const nsOptions = ["--pid", "--fork", "--mount-proc", "--kill-child"];
  const noNamespace = pidNamespaceUnavailable(nsOptions);
  if (noNamespace) console.warn(`[conformance] ${ctx.name}: the pid-namespace liveness check is skipped: ${noNamespace}`);
  const pidCases = [
    { what: "producers in other pid namespaces (each pid 1 there, a live pid here)", wrap: ["unshare", ...nsOptions], skip: noNamespace, zombie: false },
    { what: "producers whose parent never reaps them (the killed one stays a zombie)", wrap: ["sh", "-c", '"$0" "$@" & exec sleep 120 3>&- 4>&- 5>&- 6>&-'], skip: undefined, zombie: true },
  ];
  for (const c of pidCases) {
    it.skipIf(c.skip !== undefined)(`${c.what} deliver, and the one killed with SIGKILL is reported EPEERGONE within 1 s${c.skip ? ` — skipped: ${c.skip}` : ""}`, async () => {
      const lost: Array<{ error: ChannelError; at: number; zombie: boolean }> = [];
      let victimPid = 0;
      const r = await ctx.listen({ expectedProducers: 2, onPeerLost: (error) => lost.push({ error, at: Date.now(), zombie: c.zombie && isProcessAlive(victimPid) }) });
      const bigSize = Math.min(r.maxMessageSize, 64 * 1024);
      const bigSum = checksum32(fillPattern(new Uint8Array(bigSize), 7));
      const verifier = new ScenarioVerifier(2, 200, 64);
      let torn = 0;
      const receiving = (async () => {
        for await (const m of r) {
          if (m.length === 64) verifier.verify(m, 0, 64, monotonicNs());
          else if (m.length !== bigSize || checksum32(m) !== bigSum) torn++;
        }
      })();
      const victim = await ctx.startProducer(r, { kind: "kill-mid", count: 200, size: 64, bigSize }, c.wrap);
      const ready = await ctx.withTimeout(victim.waitFor((l) => l.ready === true || "fatal" in l), 20_000, "the first producer");
      expect(ready.fatal).toBeUndefined();
      victimPid = ready.pid as number;
      const steady = await ctx.startProducer(r, { kind: "scenario", producerId: 1, count: 200, size: 64 }, c.wrap);
      expect(await ctx.withTimeout(steady.waitFor((l) => "done" in l || "fatal" in l || "error" in l), 20_000, "the second producer")).toEqual({ done: true });
      const killedAt = Date.now();
      if (c.zombie) process.kill(victimPid, "SIGKILL");
      else victim.child.kill("SIGKILL");
      await ctx.withTimeout(receiving, 10_000, "receiving after the kill");
      expect(torn).toBe(0);
      expect(verifier.report().problems).toEqual([]);
      expect(lost.map((l) => l.error.code)).toEqual(["EPEERGONE"]);
      expect(lost[0]!.at - killedAt).toBeLessThan(1000);
      if (c.zombie) {
        // Reported while kill(pid, 0) still finds it: the process may still be exiting then (its
        // sockets close before it turns into a zombie), and a zombie it becomes, which nobody reaps.
        expect(lost[0]!.zombie).toBe(true);
        for (const until = Date.now() + 1000; !isZombie(victimPid) && Date.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(isZombie(victimPid)).toBe(true);
      }
      expect(r.producers).toMatchObject({ closed: 1, lost: 1 });
    });
  }
}
