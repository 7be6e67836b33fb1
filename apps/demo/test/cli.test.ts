import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

function demo(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("pnpm demo", () => {
  it.each([
    [["--transport", "carrier-pigeon"], /unknown transport "carrier-pigeon"/],
    [["--producers", "0"], /--producers must be between 1 and 64/],
    [["--size", "16"], /--size must be between 32/],
    [["--messages", "ten"], /--messages must be a whole number/],
    [["--frobnicate"], /unknown option --frobnicate/],
    [["--transport"], /--transport needs a value/],
  ])("rejects %j with one line and exit code 2", (args, message) => {
    const r = demo(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stdout).toBe("");
  });

  it("prints exactly one JSON record with --json, verified ok, and the producers' ends are real pipes", () => {
    const r = demo("--transport", "pipe", "--producers", "2", "--messages", "20000", "--json");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!);
    for (const key of ["transport", "producers", "messages", "size", "elapsedMs", "msgsPerSec", "mbPerSec", "latencyP50Us", "latencyP99Us", "total", "ok"]) {
      expect(rec).toHaveProperty(key);
    }
    expect(rec).toMatchObject({ transport: "pipe", producers: 2, messages: 20000, size: 64, ok: true, received: 40000 });
    expect(rec.total).toBe(rec.expectedTotal);
    expect(rec.producerEndpoints).toHaveLength(2);
    for (const e of rec.producerEndpoints) expect(e).toMatch(/^pipe:\[\d+\]$/);
  });

  it("prints a human summary ending in OK", () => {
    const r = demo("--transport", "uds", "--producers", "1", "--messages", "5000", "--size", "1KiB");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/uds: 1 producers x 5,000 messages x 1024 B/);
    expect(r.stdout).toMatch(/OK: every message arrived/);
    expect(r.stderr).toBe("");
  });
});

describe("pnpm demo --scenario shared-counter", () => {
  it("is exact with the lock and says so in one JSON record", () => {
    const r = demo("--scenario", "shared-counter", "--transport", "semaphore", "--producers", "2", "--increments", "5000", "--json");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!);
    expect(rec).toMatchObject({ scenario: "shared-counter", lock: true, expected: 10000, actual: 10000, ok: true });
  });

  it("loses updates without the lock, and ok is false", () => {
    const r = demo("--scenario", "shared-counter", "--transport", "semaphore", "--producers", "2", "--increments", "20000", "--no-lock", "--json");
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout.trim());
    expect(rec.lock).toBe(false);
    expect(rec.ok).toBe(false);
    expect(rec.actual).toBeLessThan(rec.expected);
  });

  it("refuses another transport with exit code 2", () => {
    const r = demo("--scenario", "shared-counter", "--transport", "pipe");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/runs over --transport semaphore/);
  });
});
