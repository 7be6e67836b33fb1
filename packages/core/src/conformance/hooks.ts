import { afterEach, expect } from "vitest";
import type { Receiver } from "../interface.js";
import { CheckedMessageVerifier } from "./fixtures.js";
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

/**
 * For a describe block: `receiver = closing(await transport.listen())`;
 * after each test every receiver handed to `closing` is closed (and the
 * processes the kit started are killed).
 */
export function closingAfterEach(): <R extends Receiver>(receiver: R) => R {
  const receivers = closeAfterEach();
  return (receiver) => {
    receivers.push(receiver);
    return receiver;
  };
}

/**
 * The stress check of a transport's own tests: `producers` fixture
 * processes (`startProducer(id)`, default two) each send `count` messages
 * made by `fillCheckedMessage`; every one must arrive, in order, with its
 * checksum, and every producer must exit 0.
 */
export async function expectCheckedStress(receiver: Receiver, count: number, startProducer: (id: number) => { exit: Promise<number | null> }, producers = 2): Promise<void> {
  const started = Array.from({ length: producers }, (_, id) => startProducer(id));
  const v = new CheckedMessageVerifier();
  for await (const b of receiver.batches()) v.verify(b);
  expect(v.bad).toEqual([]);
  expect(v.count).toBe(producers * count);
  expect(v.next).toEqual(started.map(() => count));
  for (const p of started) expect(await p.exit).toBe(0);
}
