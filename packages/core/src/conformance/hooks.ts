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
 * The stress check of a transport's own tests: two fixture producers
 * (`startProducer(id)`) each send `count` messages made by
 * `fillCheckedMessage`; every one must arrive, in order, with its checksum,
 * and both producers must exit 0.
 */
export async function expectCheckedStress(receiver: Receiver, count: number, startProducer: (id: number) => { exit: Promise<number | null> }): Promise<void> {
  const producers = [0, 1].map(startProducer);
  const v = new CheckedMessageVerifier();
  for await (const b of receiver.batches()) v.verify(b);
  expect(v.bad).toEqual([]);
  expect(v.count).toBe(2 * count);
  expect(v.next).toEqual([count, count]);
  for (const p of producers) expect(await p.exit).toBe(0);
}
