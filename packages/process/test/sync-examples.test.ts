import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll } from "./helpers.js";

// The shared-state examples, built on their own into examples/dist/sync (examples.test.ts
// type-checks every example) and run with node at a tenth of their sizes and sleeps.
const dir = fileURLToPath(new URL("../examples/", import.meta.url));
const names = ["queue-sum", "shm-semaphore-counter", "value-array-lock", "sharing-state", "queue-insert-remove", "event-handoff"];
const run = promisify(execFile);

async function example(name: string): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [`${dir}dist/sync/${name}.js`], { env: { ...process.env, EXAMPLE_SCALE: "0.1" }, timeout: 30_000 });
}

beforeAll(async () => {
  await build({ entryPoints: names.map((n) => `${dir}${n}.ts`), outdir: `${dir}dist/sync`, format: "esm", platform: "node", target: "node20", logLevel: "silent" });
});
afterAll(killAll);

describe.concurrent("shared-state examples", () => {
  it("queue-sum: two workers' subtotals arrive through the queue (2 × 5,000,000 at this scale)", async () => {
    const { stdout } = await example("queue-sum");
    expect(stdout.trim().split("\n")).toEqual(["total_number=10000000", "end of main"]);
  });

  it("shm-semaphore-counter: both counts land in the shared int64 under the semaphore", async () => {
    const { stdout } = await example("shm-semaphore-counter");
    expect(stdout.trim().split("\n")).toEqual(["total_number=10000000", "end of main"]);
  });

  it("value-array-lock: 4 and [5, 6, 7, 8]", async () => {
    const { stdout } = await example("value-array-lock");
    expect(stdout.trim().split("\n")).toEqual(["4", "[ 5, 6, 7, 8 ]"]);
  });

  it("sharing-state: a plain number stays 0 in the parent, a Value reaches 450", async () => {
    const { stdout } = await example("sharing-state");
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^Parent process ID \d+$/);
    const plainEnd = lines.indexOf("Final Data in parent process (not shared) 0");
    expect(plainEnd).toBe(10);
    expect(lines.slice(1, plainEnd).every((l) => / data 50$/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe("Final Data in parent process (shared) 450");
  });

  it("queue-insert-remove: 1 2 3 in order, then hello world from set_data to get_data", async () => {
    const { stdout } = await example("queue-insert-remove");
    expect(stdout.trim().split("\n")).toEqual(["1", "2", "3", "[set_data] set queue data : hello world", "[get_data] get queue data : hello world"]);
  });

  it("event-handoff: first sees e1 after 'set e1', second sees e2 after 'set e2'", async () => {
    const { stdout } = await example("event-handoff");
    const lines = stdout.trim().split("\n");
    const at = (l: string) => lines.indexOf(l);
    expect(at("wait...")).toBeLessThan(at("set e1"));
    expect(lines).toContain("[first] event status : (false)");
    expect(at("[first] event status : (true)")).toBeGreaterThan(at("set e1"));
    expect(at("[first] e1 is set")).toBeGreaterThan(at("set e1"));
    expect(at("[second] event status : (true)")).toBeGreaterThan(at("[first] set e2"));
    expect(at("[second] e2 is set")).toBeGreaterThan(at("[first] set e2"));
    expect(lines.at(-1)).toBe("exit");
  });
});
