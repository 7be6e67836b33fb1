// A consumer waits on a Condition until a shared Value reaches 3; the producer notifies after each step.
import { Condition, isMainModule, Process, Value } from "@ipc-sampler/process";

export async function consumer(c: unknown, v: unknown): Promise<void> {
  const cond = Condition.from(c);
  const stock = Value.from<"i32">(v);
  await cond.acquire();
  const seen = await cond.waitFor(() => stock.value >= 3, { timeoutMs: 10_000 });
  cond.release();
  console.log(`consumer saw stock ${stock.value} (${seen})`);
}

async function main(): Promise<void> {
  const cond = new Condition();
  const stock = new Value("i32", 0, { lock: false });
  const p = new Process({ module: import.meta.url, target: "consumer", args: [cond, stock] });
  await p.start();
  for (let i = 0; i < 3; i++) {
    await cond.acquire();
    stock.value += 1;
    cond.notifyAll();
    cond.release();
  }
  await p.join();
  console.log("producer done");
}

if (isMainModule(import.meta.url)) await main();
