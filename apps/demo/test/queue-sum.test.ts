import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { transports } from "../src/transports.js";

// `--scenario queue-sum` end to end: two worker processes put their
// subtotals on one channel of each transport; the demo checks the total.
const run = promisify(execFile);
const cli = new URL("../dist/cli.js", import.meta.url).pathname;

describe("demo --scenario queue-sum", () => {
  it("adds the two workers' subtotals over every transport that can reach a child", async () => {
    const { stdout } = await run(process.execPath, [cli, "--scenario", "queue-sum", "--transport", "all", "--count", "20000", "--json"], { timeout: 240_000 });
    const records = stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.transport)).toEqual(transports.filter((t) => t.id !== "pipe").map((t) => t.id));
    for (const r of records) expect(r).toMatchObject({ scenario: "queue-sum", workers: 2, count: 20000, total: 40000, ok: true });
  }, 250_000);

  it("refuses the anonymous pipe with a usage error", async () => {
    const err = await run(process.execPath, [cli, "--scenario", "queue-sum", "--transport", "pipe"]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toMatch(/queue-sum runs over uds/);
  });
});
