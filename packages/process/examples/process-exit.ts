// Good, failing and killed jobs: isAlive while they run, exitCode after.
import { currentProcess, isMainModule, Process } from "@ipc-sampler/process";

const scale = Number(process.env.EXAMPLE_SCALE ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms * scale));

function hello(): string {
  const p = currentProcess();
  console.log(`start name : ${p.name}, pid : ${p.pid}`);
  return p.name;
}

export async function goodJob(): Promise<void> {
  const name = hello();
  await sleep(5000);
  console.log(`exit name : ${name}`);
}

export async function failJob(): Promise<void> {
  hello();
  await sleep(5000);
  throw new Error("fail_job gave up");
}

export async function killJob(): Promise<void> {
  const name = hello();
  await sleep(10_000);
  console.log(`exit name : ${name}`);
}

const show = (p: Process) => `<Process(${p.name}, ${p.exitCode !== null ? "stopped" : p.isAlive() ? "started" : "initial"})>`;

async function main(): Promise<void> {
  const list: Process[] = [];
  for (const target of ["goodJob", "failJob", "killJob"]) {
    const p = new Process({ module: import.meta.url, target, name: target });
    list.push(p);
    console.log(`process check : ${show(p)}, ${p.isAlive()}`);
    await p.start();
    await sleep(300);
  }
  for (const p of list) console.log(`process check : ${show(p)}, ${p.isAlive()}`);
  await sleep(6000);
  for (const p of list) {
    console.log(`process check : ${show(p)}, ${p.isAlive()}`);
    if (p.isAlive()) {
      console.log(`termination process : ${show(p)}`);
      p.terminate();
    }
  }
  for (const p of list) {
    await p.join();
    console.log(`process check : ${show(p)} exit code : ${p.exitCode}`);
  }
  console.log(`failJob's error: ${(list[1]!.error as Error).message}`);
}

if (isMainModule(import.meta.url)) await main();
