// Shared memory synchronised with a semaphore: each worker adds its count to one shared int64 under Semaphore(1).
import { isMainModule, Process, Semaphore, SharedArray } from "@ipc-sampler/process";

const scale = Number(process.env.EXAMPLE_SCALE ?? 1);
const N = Math.round(50_000_000 * scale);

export async function func(id: number, count: number, shared: unknown, sem: unknown): Promise<void> {
  let increased = 0;
  for (let i = 0; i < count; i++) increased += 1;
  const s = Semaphore.from(sem);
  const b = SharedArray.from<"i64">(shared);
  await s.acquire();
  b.set(0, b.get(0) + BigInt(increased));
  s.release();
}

async function main(): Promise<void> {
  const start = performance.now();
  const sem = new Semaphore(1);
  const c = new SharedArray("i64", 1, { lock: false });
  const ps = [1, 2].map((id) => new Process({ module: import.meta.url, target: "func", args: [id, N, c, sem] }));
  for (const p of ps) await p.start();
  for (const p of ps) await p.join();
  console.error(`---${((performance.now() - start) / 1000).toFixed(3)} seconds ---`);
  console.log(`total_number=${c.get(0)}`);
  console.log("end of main");
}

if (isMainModule(import.meta.url)) await main();
