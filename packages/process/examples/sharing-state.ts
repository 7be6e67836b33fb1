// Sharing state: a plain number passed to nine children is copied (the parent's stays 0); a Value is shared (450).
import { currentProcess, isMainModule, Process, Value } from "@ipc-sampler/process";

export function updatePlain(v: number): void {
  for (let i = 0; i < 50; i++) v += 1;
  console.log(currentProcess().name, "data", v);
}

export async function updateShared(value: unknown): Promise<void> {
  const v = Value.from<"i32">(value);
  // `v.value += 1` is a read then a write: without the lock two processes can both read 7 and both write 8.
  const lock = v.getLock();
  for (let i = 0; i < 50; i++) await lock.withLock(() => (v.value += 1));
  console.log(currentProcess().name, "data", v.value);
}

async function runNine(target: string, arg: unknown): Promise<void> {
  const ps = Array.from({ length: 9 }, () => new Process({ module: import.meta.url, target, args: [arg] }));
  await Promise.all(ps.map((p) => p.start()));
  for (const p of ps) await p.join();
}

async function main(): Promise<void> {
  console.log(`Parent process ID ${process.pid}`);
  const plain = 0;
  await runNine("updatePlain", plain);
  console.log("Final Data in parent process (not shared)", plain);
  const shared = new Value("i32", 0);
  await runNine("updateShared", shared);
  console.log("Final Data in parent process (shared)", shared.value);
}

if (isMainModule(import.meta.url)) await main();
