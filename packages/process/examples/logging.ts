// Logging from children: [LEVEL/ProcessName] lines on stderr, with each child's lifecycle.
import { isMainModule, logToStderr, Process } from "@ipc-sampler/process";

export function worker(count: number): void {
  console.log(`count : ${count}`);
}

async function main(): Promise<void> {
  logToStderr("INFO");
  const ps = [0, 1, 2, 3, 4].map((i) => new Process({ module: import.meta.url, target: "worker", args: [i] }));
  await Promise.all(ps.map((p) => p.start()));
  for (const p of ps) await p.join();
}

if (isMainModule(import.meta.url)) await main();
