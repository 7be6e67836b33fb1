// Two events hand off between processes: "first" waits for e1, then sets e2 for "second".
import { currentProcess, Event, isMainModule, Process } from "@ipc-sampler/process";

const scale = Number(process.env.EXAMPLE_SCALE ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms * scale));

export async function firstWait(a: unknown, b: unknown): Promise<void> {
  const [e1, e2] = [Event.from(a), Event.from(b)];
  const name = currentProcess().name;
  while (!e1.isSet()) {
    const event = await e1.wait({ timeoutMs: 1000 * scale });
    console.log(`[${name}] event status : (${event})`);
    if (event) {
      console.log(`[${name}] e1 is set`);
      await sleep(3000);
      console.log(`[${name}] set e2`);
      e2.set();
    }
  }
}

export async function secondWait(b: unknown): Promise<void> {
  const e2 = Event.from(b);
  const name = currentProcess().name;
  while (!e2.isSet()) {
    const event = await e2.wait({ timeoutMs: 1000 * scale });
    console.log(`[${name}] event status : (${event})`);
    if (event) console.log(`[${name}] e2 is set`);
  }
}

async function main(): Promise<void> {
  const e1 = new Event();
  const e2 = new Event();
  const p1 = new Process({ name: "first", module: import.meta.url, target: "firstWait", args: [e1, e2] });
  const p2 = new Process({ name: "second", module: import.meta.url, target: "secondWait", args: [e2] });
  await p1.start();
  await p2.start();
  console.log("wait...");
  await sleep(5000);
  console.log("set e1");
  e1.set();
  await sleep(5000);
  console.log("exit");
  await p1.join();
  await p2.join();
}

if (isMainModule(import.meta.url)) await main();
