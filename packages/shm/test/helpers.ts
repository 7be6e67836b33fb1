import { fileURLToPath } from "node:url";
import { startProcess, type WatchedProcess } from "@ipc-sampler/core/conformance";

export { cpuTicks, killStartedProcesses as killAll, settledCpu } from "@ipc-sampler/core/conformance";

const FIXTURE = fileURLToPath(new URL("./fixtures/producer.mjs", import.meta.url));

export interface Child extends Omit<WatchedProcess, "exit"> {
  exit: Promise<number | null>;
}

/** Starts the fixture producer in `mode`, with a hard timeout; waitFor gives up after 20 s by default. */
export function start(mode: string, args: unknown, timeoutMs = 120_000): Child {
  const run = startProcess([FIXTURE, mode, JSON.stringify(args)], { timeoutMs });
  return { ...run, exit: run.exit.then((e) => e.code), waitFor: (pred, ms = 20_000) => run.waitFor(pred, ms) };
}
