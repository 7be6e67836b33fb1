// Three processes meet at a Barrier twice; the party that arrives last each time runs the action.
import { Barrier, isMainModule, Process, SharedArray } from "@ipc-sampler/process";

export async function party(b: unknown, t: unknown): Promise<void> {
  const trips = SharedArray.from<"i32">(t);
  const barrier = Barrier.from(b, { action: () => trips.set(0, trips.get(0) + 1) });
  for (let round = 0; round < 2; round++) await barrier.wait({ timeoutMs: 10_000 });
  barrier.close(); // stops its waiter thread
}

async function main(): Promise<void> {
  const barrier = new Barrier(3);
  const trips = new SharedArray("i32", 1, { lock: false });
  const ps = [1, 2, 3].map(() => new Process({ module: import.meta.url, target: "party", args: [barrier, trips] }));
  for (const p of ps) await p.start();
  for (const p of ps) await p.join();
  console.log(`trips: ${trips.get(0)}, broken: ${barrier.broken}`);
}

if (isMainModule(import.meta.url)) await main();
