// A BoundedSemaphore(2) lets at most two of four processes in at once; one release too many is an error.
import { BoundedSemaphore, isMainModule, Process, SharedArray } from "@ipc-sampler/process";

const scale = Number(process.env.EXAMPLE_SCALE ?? 1);

export async function visit(s: unknown, c: unknown): Promise<void> {
  const room = BoundedSemaphore.from(s);
  const counts = SharedArray.from<"i32">(c).raw; // [inside now, most inside at once]
  await room.withLock(async () => {
    const inside = Atomics.add(counts, 0, 1) + 1;
    let most = Atomics.load(counts, 1);
    while (inside > most) {
      const was = Atomics.compareExchange(counts, 1, most, inside);
      if (was === most) break;
      most = was;
    }
    await new Promise((r) => setTimeout(r, 200 * scale));
    Atomics.sub(counts, 0, 1);
  });
}

async function main(): Promise<void> {
  const room = new BoundedSemaphore(2);
  const counts = new SharedArray("i32", 2, { lock: false });
  const ps = [1, 2, 3, 4].map(() => new Process({ module: import.meta.url, target: "visit", args: [room, counts] }));
  await Promise.all(ps.map((p) => p.start()));
  await Promise.all(ps.map((p) => p.join()));
  console.log(`never more than 2 inside: ${counts.get(1) >= 1 && counts.get(1) <= 2}`);
  try {
    room.release();
  } catch (err) {
    console.log(`release past the bound: ${(err as Error & { code: string }).code}`);
  }
}

if (isMainModule(import.meta.url)) await main();
