// Daemon vs non-daemon: the program waits for a non-daemonic child, and takes
// a daemonic one down with it.
import { isMainModule, Process } from "@ipc-sampler/process";

const scale = Number(process.env.EXAMPLE_SCALE ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms * scale));

export async function job(label: string, ms: number): Promise<void> {
  console.log(`${label}: start`);
  await sleep(ms);
  console.log(`${label}: exit`);
}

async function main(): Promise<void> {
  const daemon = new Process({ module: import.meta.url, target: "job", args: ["daemon", 60_000], name: "daemon", daemon: true });
  const worker = new Process({ module: import.meta.url, target: "job", args: ["non-daemon", 2000], name: "non-daemon" });
  await daemon.start();
  await worker.start();
  console.log(`main: done, daemon pid ${daemon.pid} (it dies with this process); the non-daemon child is awaited`);
  // No join: Node waits for the non-daemonic child as Python does at exit.
}

if (isMainModule(import.meta.url)) await main();
