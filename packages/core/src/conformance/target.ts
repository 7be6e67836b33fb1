// The target a transport hands the conformance kit, and the helpers its
// tests use to start producer and receiver processes and to read what
// arrives. Bundled into the kit's entry: the script paths resolve beside it.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Address, ListenOptions, Receiver, Transport } from "../interface.js";
import { expect } from "vitest";
import { ScenarioVerifier, monotonicNs } from "../scenario.js";
import type { ProducerPlan } from "./plan.js";
import { startProcess, type WatchedProcess } from "./processes.js";

export interface ConformanceTarget {
  /** Transport id, used in test names. */
  name: string;
  /** The transport, used in this process to listen. */
  transport: Transport;
  /** URL or path of the built module producer processes import. */
  module: string | URL;
  /** Name of the export in `module` that is the transport. */
  exportName: string;
  /** Extra listen options (a transport's own, or a smaller maxMessageSize). */
  listenOptions?: ListenOptions & Record<string, unknown>;
  /** Skip every test, printing this reason (the machine cannot run the mechanism). */
  skip?: string | undefined;
  /** Names or paths a receiver creates, which must be gone once it has closed or its process has ended. */
  leftovers?: (receiver: Pick<Receiver, "address">) => string[] | Promise<string[]>;
  /** How long a producer may take at most (ms, default 30 000). */
  producerTimeoutMs?: number;
  /**
   * Removes what a SIGKILLed receiver left that is not a path in `leftovers`
   * (a POSIX message queue lives on in the kernel); the kit calls it after
   * killing a receiving process, and removes the `leftovers` paths itself.
   */
  removeAfterKill?: (address: Address) => void | Promise<void>;
  /** The transport's senders are ReservingSenders (reserve → fill → commit): the kit checks that path's rules too. */
  reserving?: boolean;
}

export const PRODUCER_SCRIPT = fileURLToPath(new URL("./conformance-producer.js", import.meta.url));
export const RECEIVER_SCRIPT = fileURLToPath(new URL("./conformance-receiver.js", import.meta.url));

export function moduleUrlOf(target: ConformanceTarget): string {
  return target.module instanceof URL ? target.module.href : target.module;
}

export async function startProducer(receiver: Receiver, target: ConformanceTarget, plan: ProducerPlan, wrap?: readonly string[]): Promise<WatchedProcess> {
  const admission = await receiver.admit();
  const run = startProcess([PRODUCER_SCRIPT, moduleUrlOf(target), target.exportName, JSON.stringify(admission.address), JSON.stringify(plan)], {
    timeoutMs: target.producerTimeoutMs ?? 30_000,
    inherit: admission.inherit,
    wrap,
  });
  admission.release();
  return run;
}

/** A receiving process of its own (conformance-receiver.js) and the address it printed. */
export async function startReceiverProcess(target: ConformanceTarget, options: Record<string, unknown>, end: "signal" | "exit" | { echoTo: Address }): Promise<{ process: WatchedProcess; address: Address }> {
  const how = typeof end === "string" ? [end] : ["echo", JSON.stringify(end.echoTo)];
  const p = startProcess([RECEIVER_SCRIPT, moduleUrlOf(target), target.exportName, JSON.stringify(options), ...how], { timeoutMs: 30_000 });
  const line = await withTimeout(p.waitFor((l) => "address" in l || "fatal" in l), 15_000, "the receiving process");
  expect(line.fatal).toBeUndefined();
  return { process: p, address: line.address as Address };
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

export async function collect(receiver: Receiver, ms = 20_000): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  await withTimeout(
    (async () => {
      for await (const m of receiver) out.push(m.slice());
    })(),
    ms,
    "receiving",
  );
  return out;
}

export async function verifyScenario(receiver: Receiver, producers: number, count: number, size: number, ms = 30_000) {
  const verifier = new ScenarioVerifier(producers, count, size);
  await withTimeout(
    (async () => {
      for await (const batch of receiver.batches()) {
        const now = monotonicNs();
        for (let i = 0; i < batch.count; i++) verifier.verify(batch.data, batch.offsets[2 * i]!, batch.offsets[2 * i + 1]!, now);
      }
    })(),
    ms,
    "receiving",
  );
  return verifier.report();
}

export function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Registers the conformance suite for one transport with vitest. */
