/**
 * One shared-counter process:
 *   node shared-counter-child.js <segment> <lock> <go> <increments> <lock 0|1> <window spins>
 * Waits at the start barrier (the `go` semaphore), then adds 1 to word 0 of
 * the segment `increments` times with a plain load and a plain store.
 */
import { openSegment } from "@ipc-sampler/posix";
import { Lock, Semaphore } from "@ipc-sampler/semaphore";

async function main(): Promise<void> {
  const [segName, lockName, goName, incText, lockText, spinText] = process.argv.slice(2);
  const increments = Number(incText);
  const useLock = lockText === "1";
  const spins = Number(spinText);
  const segment = openSegment(segName!);
  const counter = new Int32Array(segment.buffer.buffer, segment.buffer.byteOffset, 1);
  const lock = Lock.open(lockName!);
  const go = Semaphore.open(goName!);
  process.stdout.write("ready\n");
  await go.acquire({ timeoutMs: 60_000 });
  let sink = 0;
  for (let i = 0; i < increments; i++) {
    if (useLock && !lock.tryAcquire()) await lock.acquire();
    const v = counter[0]!; // plain load
    for (let k = 0; k < spins; k++) sink = (sink * 31 + k) | 0; // the window another process can slip into
    counter[0] = v + 1; // plain store
    if (useLock) lock.release();
  }
  lock.close();
  go.close();
  segment.close();
  if (sink === 42) process.stdout.write("");
}

main().catch((err) => {
  process.stderr.write(`shared-counter child: ${String((err as Error)?.stack ?? err)}\n`);
  process.exitCode = 1;
});
