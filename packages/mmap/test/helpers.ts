import { fileURLToPath } from "node:url";
import { startFixture, type FixtureProcess } from "@ipc-sampler/core/conformance";

export { cpuTicks, killStartedProcesses as killAll, settledCpu } from "@ipc-sampler/core/conformance";

const FIXTURE = fileURLToPath(new URL("./fixtures/producer.mjs", import.meta.url));

export type Child = FixtureProcess;

/** Starts the fixture producer in `mode`, with a hard timeout; waitFor gives up after 20 s by default. */
export const start = (mode: string, args: unknown, timeoutMs?: number): Child => startFixture(FIXTURE, mode, args, timeoutMs);
