import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ChannelError, DEFAULT_PREFIX, removeOnExit, uniqueName } from "@ipc-sampler/core";
import { createSegment } from "@ipc-sampler/posix";
import { Lock, Semaphore } from "@ipc-sampler/semaphore";

export interface SharedCounterOptions {
  /** Child processes that each add to the counter (default 2). */
  processes?: number;
  /** Additions per process (default 100 000). */
  increments?: number;
  /** Guard each read-modify-write with the Lock (default true); false shows lost updates. */
  lock?: boolean;
  /**
   * Busy-loop iterations between the read and the write of each increment
   * (default 200, well under a microsecond): widens the unguarded window so
   * lost updates show reliably even on two cores.
   */
  windowSpins?: number;
  /** Prefix of the segment and semaphore names (default `ipcs-`). */
  prefix?: string;
  /** Kill the children and fail after this long (ms, default 120 000). */
  timeoutMs?: number;
}

export interface SharedCounterResult {
  /** processes × increments. */
  expected: number;
  /** The counter's final value. */
  actual: number;
  /** actual === expected. */
  ok: boolean;
  /** From releasing the children at once (a start barrier) to the last one's exit. */
  elapsedMs: number;
  /** expected - actual: updates one process overwrote with a stale value. */
  lost: number;
}

const CHILD = fileURLToPath(new URL("./shared-counter-child.js", import.meta.url));

/**
 * The shared-counter scenario: P child processes (real `node` processes)
 * each add 1 to one 32-bit counter in a shared segment `increments` times,
 * with a plain load then a plain store — no atomic instruction. With the
 * lock (a named semaphore of one unit) around that read-modify-write the
 * total is exact; without it, updates are lost.
 */
export async function runSharedCounter(options: SharedCounterOptions = {}): Promise<SharedCounterResult> {
  const processes = options.processes ?? 2;
  const increments = options.increments ?? 100_000;
  const lock = options.lock ?? true;
  const windowSpins = options.windowSpins ?? 200;
  if (!Number.isInteger(processes) || processes < 1 || processes > 64) throw new RangeError(`processes must be an integer from 1 to 64; got ${processes}`);
  if (!Number.isInteger(increments) || increments < 0 || processes * increments > 0x7fffffff) {
    throw new RangeError(`increments must be a non-negative integer with processes × increments below 2^31; got ${increments}`);
  }
  if (!Number.isInteger(windowSpins) || windowSpins < 0) throw new RangeError(`windowSpins must be a non-negative integer; got ${windowSpins}`);
  const name = uniqueName(options.prefix ?? DEFAULT_PREFIX, "counter");
  const segment = createSegment(name, 4096);
  const names = { lock: `/${name}.lock`, go: `/${name}.go` };
  const unregister = removeOnExit(() => {
    segment.unlink();
    Semaphore.remove(names.lock);
    Semaphore.remove(names.go);
  });
  let theLock: Lock | undefined;
  let go: Semaphore | undefined;
  const children: ChildProcess[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    theLock = Lock.create(names.lock);
    go = Semaphore.create(names.go, { initial: 0 });
    const ready: Promise<void>[] = [];
    const exits: Promise<void>[] = [];
    for (let i = 0; i < processes; i++) {
      const child = spawn(process.execPath, [CHILD, name, names.lock, names.go, String(increments), lock ? "1" : "0", String(windowSpins)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      children.push(child);
      let text = "";
      ready.push(
        new Promise<void>((resolve, reject) => {
          child.stdout!.setEncoding("utf8").on("data", (t: string) => {
            text += t;
            if (text.includes("ready\n")) resolve();
          });
          child.once("exit", () => reject(new ChannelError("EPEERGONE", `shared-counter child ${i} exited before it was ready`)));
        }),
      );
      exits.push(
        new Promise<void>((resolve, reject) => {
          child.once("exit", (code, signal) => {
            if (code === 0) resolve();
            else reject(new ChannelError("EPEERGONE", `shared-counter child ${i} failed (${signal ?? `exit code ${code}`})`));
          });
        }),
      );
    }
    // Awaited below; until then a failure must not surface as unhandled.
    for (const p of [...ready, ...exits]) p.catch(() => {});
    const timeoutMs = options.timeoutMs ?? 120_000;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ChannelError("ETIMEDOUT", `the shared-counter children did not finish within ${timeoutMs} ms`)), timeoutMs);
    });
    timedOut.catch(() => {});
    await Promise.race([Promise.all(ready), timedOut]);
    const start = performance.now();
    go.release(processes);
    await Promise.race([Promise.all(exits), timedOut]);
    const elapsedMs = performance.now() - start;
    const actual = new Int32Array(segment.buffer.buffer, segment.buffer.byteOffset, 1)[0]!;
    const expected = processes * increments;
    return { expected, actual, ok: actual === expected, elapsedMs: Math.round(elapsedMs * 10) / 10, lost: expected - actual };
  } finally {
    if (timer) clearTimeout(timer);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    theLock?.close();
    go?.close();
    segment.close();
    segment.unlink();
    unregister();
  }
}
