// A Queue between processes: one inserts 1, 2, 3 at the rear, the other removes and prints them from the front;
// then set_data / get_data pass "hello world".
import { currentProcess, isMainModule, Process, Queue } from "@ipc-sampler/process";

const scale = Number(process.env.EXAMPLE_SCALE ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms * scale));

export async function insert(q: unknown): Promise<void> {
  const queue = Queue.from<number>(q);
  await queue.put(1);
  await queue.put(2);
  await queue.put(3);
}

export async function remove(q: unknown): Promise<void> {
  const queue = Queue.from<number>(q);
  console.log(await queue.get());
  console.log(await queue.get());
  console.log(await queue.get());
}

export async function setData(q: unknown): Promise<void> {
  const msg = "hello world";
  await Queue.from<string>(q).put(msg);
  console.log(`[${currentProcess().name}] set queue data : ${msg}`);
}

export async function getData(q: unknown): Promise<void> {
  await sleep(1000);
  console.log(`[${currentProcess().name}] get queue data : ${await Queue.from<string>(q).get()}`);
}

async function main(): Promise<void> {
  const queue = new Queue<number>({ maxsize: 10 });
  const p1 = new Process({ module: import.meta.url, target: "insert", args: [queue] });
  const p2 = new Process({ module: import.meta.url, target: "remove", args: [queue] });
  await p1.start();
  await p2.start();
  await p1.join();
  await p2.join();

  const q = new Queue<string>();
  const s = new Process({ name: "set_data", module: import.meta.url, target: "setData", args: [q] });
  const g = new Process({ name: "get_data", module: import.meta.url, target: "getData", args: [q] });
  await s.start();
  await g.start();
  await s.join();
  await g.join();
}

if (isMainModule(import.meta.url)) await main();
