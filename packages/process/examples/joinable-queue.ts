// Two workers take jobs from a JoinableQueue and mark each done; join() returns when all are.
import { isMainModule, JoinableQueue, Process, Value } from "@ipc-sampler/process";

export async function worker(q: unknown, t: unknown): Promise<void> {
  const jobs = JoinableQueue.from<number | null>(q);
  const total = Value.from<"i32">(t);
  for (let job = await jobs.get(); job !== null; job = await jobs.get()) {
    await total.getLock().withLock(() => (total.value += job));
    jobs.taskDone();
  }
  jobs.taskDone();
}

async function main(): Promise<void> {
  const jobs = new JoinableQueue<number | null>();
  const total = new Value("i32", 0);
  const ps = [1, 2].map(() => new Process({ module: import.meta.url, target: "worker", args: [jobs, total] }));
  for (const p of ps) await p.start();
  for (let i = 1; i <= 100; i++) await jobs.put(i);
  await jobs.join();
  console.log(`all done, total ${total.value}`);
  for (const _ of ps) await jobs.put(null);
  for (const p of ps) await p.join();
  jobs.close(); // stops its waiter threads
}

if (isMainModule(import.meta.url)) await main();
