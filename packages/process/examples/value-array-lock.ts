// Value, Array and Lock: four processes each add 1 to a shared value and to every element of a shared array, under one lock.
import { isMainModule, Lock, Process, SharedArray, Value } from "@ipc-sampler/process";

export async function increment(value: unknown, array: unknown, lock: unknown): Promise<void> {
  const v = Value.from<"i32">(value);
  const a = SharedArray.from<"i32">(array);
  const l = Lock.from(lock);
  await l.acquire();
  v.value += 1;
  for (let i = 0; i < a.length; i++) a.set(i, a.get(i) + 1);
  l.release();
}

async function main(): Promise<void> {
  const sharedValue = new Value("i32", 0);
  const sharedArray = new SharedArray("i32", [1, 2, 3, 4]);
  const lock = new Lock();
  const ps = [1, 2, 3, 4].map(() => new Process({ module: import.meta.url, target: "increment", args: [sharedValue, sharedArray, lock] }));
  for (const p of ps) await p.start();
  for (const p of ps) await p.join();
  console.log(sharedValue.value);
  console.log(sharedArray.toArray());
}

if (isMainModule(import.meta.url)) await main();
