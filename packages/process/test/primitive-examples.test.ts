import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll } from "./helpers.js";

// The examples the docs' primitive pages include, built on their own into
// examples/dist/primitives (examples.test.ts type-checks every example) and
// run with node at a tenth of their sleeps.
const dir = fileURLToPath(new URL("../examples/", import.meta.url));
const names = ["barrier", "bounded-semaphore", "condition", "joinable-queue"];
const run = promisify(execFile);

async function example(name: string): Promise<string> {
  return (await run(process.execPath, [`${dir}dist/primitives/${name}.js`], { env: { ...process.env, EXAMPLE_SCALE: "0.1" }, timeout: 30_000 })).stdout;
}

beforeAll(async () => {
  await build({ entryPoints: names.map((n) => `${dir}${n}.ts`), outdir: `${dir}dist/primitives`, format: "esm", platform: "node", target: "node20", logLevel: "silent" });
});
afterAll(killAll);

describe.concurrent("primitive examples", () => {
  it("barrier: two trips, the action run once each", async () => {
    expect((await example("barrier")).trim()).toBe("trips: 2, broken: false");
  });
  it("bounded-semaphore: never more than two inside; one release too many is ELIMIT", async () => {
    expect((await example("bounded-semaphore")).trim().split("\n")).toEqual(["never more than 2 inside: true", "release past the bound: ELIMIT"]);
  });
  it("condition: the consumer wakes when the stock reaches 3", async () => {
    expect((await example("condition")).trim().split("\n")).toEqual(["consumer saw stock 3 (true)", "producer done"]);
  });
  it("joinable-queue: join returns once every job is marked done", async () => {
    expect((await example("joinable-queue")).trim()).toBe("all done, total 5050");
  });
});
