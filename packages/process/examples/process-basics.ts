// Process: start, join, isAlive, terminate — four squares, then a loop stopped from outside.
import { isMainModule, Process } from "@ipc-sampler/process";

const scale = Number(process.env.EXAMPLE_SCALE ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms * scale));

export function square(n: number): void {
  console.log(n ** 2);
}

export function loop(): void {
  // A synchronous loop that never yields: only a signal can stop it.
  let last = 0;
  for (;;) {
    if (Date.now() - last >= 1000 * scale) {
      console.log("Looping");
      last = Date.now();
    }
  }
}

async function main(): Promise<void> {
  const ps = [1, 2, 3, 4].map((n) => new Process({ module: import.meta.url, target: "square", args: [n] }));
  for (const p of ps) await p.start();
  for (const p of ps) await p.join();
  console.log("Main process");

  const p = new Process({ module: import.meta.url, target: "loop" });
  await p.start();
  console.log(`alive: ${p.isAlive()}`);
  await sleep(5000);
  p.terminate();
  await p.join();
  console.log("Process terminated");
  console.log(`alive: ${p.isAlive()}, exit code: ${p.exitCode}`);
}

if (isMainModule(import.meta.url)) await main();
