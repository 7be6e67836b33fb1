import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

// `--scenario pool-map` end to end: a pool of worker processes over a
// transport, every result checked by the demo (shape and ok, never speed).
const run = promisify(execFile);
const cli = new URL("../dist/cli.js", import.meta.url).pathname;

describe("demo --scenario pool-map", () => {
  it.each(["uds", "fifo"])("verifies the squares over %s", async (transport) => {
    const { stdout } = await run(process.execPath, [cli, "--scenario", "pool-map", "--transport", transport, "--items", "20000", "--json"], { timeout: 60_000 });
    const record = JSON.parse(stdout.trim());
    expect(record).toMatchObject({ scenario: "pool-map", transport, items: 20000, ok: true, total: "2666466670000" });
  });

  it("refuses the anonymous pipe with a usage error", async () => {
    const err = await run(process.execPath, [cli, "--scenario", "pool-map", "--transport", "pipe"]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toMatch(/pool-map runs over uds/);
  });
});
