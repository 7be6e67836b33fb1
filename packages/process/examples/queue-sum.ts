// Two workers count, put their subtotals on a Queue; the main process sums them after an "exit" marker.
import { isMainModule, Process, Queue } from "@ipc-sampler/process";

const scale = Number(process.env.EXAMPLE_SCALE ?? 1);
const N = Math.round(50_000_000 * scale);

export async function worker(id: number, count: number, q: unknown): Promise<void> {
  let increased = 0;
  for (let i = 0; i < count; i++) increased += 1;
  await Queue.from<number>(q).put(increased);
}

async function main(): Promise<void> {
  const start = performance.now();
  const q = new Queue<number | "exit">();
  const ps = [1, 2].map((id) => new Process({ module: import.meta.url, target: "worker", args: [id, N, q] }));
  for (const p of ps) await p.start();
  for (const p of ps) await p.join();
  console.error(`--- ${((performance.now() - start) / 1000).toFixed(3)} seconds ---`);
  await q.put("exit");
  let total = 0;
  for (;;) {
    const v = await q.get();
    if (v === "exit") break;
    total += v;
  }
  console.log(`total_number=${total}`);
  console.log("end of main");
}

if (isMainModule(import.meta.url)) await main();
