import { afterEach } from "vitest";
import type { Receiver } from "../interface.js";
import { killStartedProcesses } from "./processes.js";

/**
 * For a test file: after each test, kills every process started through
 * this kit (startProcess, runSnippet, trackProcess) and closes the receivers
 * pushed to the returned list.
 */
export function closeAfterEach(): Receiver[] {
  const receivers: Receiver[] = [];
  afterEach(async () => {
    killStartedProcesses();
    for (const r of receivers.splice(0)) await r.close();
  });
  return receivers;
}
