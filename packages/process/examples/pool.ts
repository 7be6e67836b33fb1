// Pool: map and apply, then their async forms with AsyncResult and callbacks.
import { isMainModule, Pool } from "@ipc-sampler/process";

export function square(n: number, exponent = 2): number {
  return n ** exponent;
}

async function main(): Promise<void> {
  await using pool = await Pool.create<typeof import("./pool.js")>({ module: import.meta.url, processes: 2 });
  const numbers = [1, 2, 3, 4, 5];
  console.log(await pool.map("square", numbers));
  console.log(await pool.apply("square", [10]));

  const mapped = pool.mapAsync("square", numbers);
  console.log(`map ready: ${mapped.ready()}`);
  console.log(await mapped.get({ timeoutMs: 10_000 }));
  console.log(`map ready: ${mapped.ready()}`);

  const applied = pool.applyAsync("square", [10]);
  console.log(`apply ready: ${applied.ready()}`);
  console.log(await applied.get());
  console.log(`apply ready: ${applied.ready()}`);

  // Keyword arguments become positional ones; the callback gets the whole result.
  const cubes = pool.starmapAsync("square", numbers.map((n) => [n, 3] as [number, number]), { callback: (r) => console.log(`callback: ${JSON.stringify(r)}`) });
  await cubes.wait();
}

if (isMainModule(import.meta.url)) await main();
