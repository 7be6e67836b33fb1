import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { formatSummary } from "../src/format.js";
import { transports } from "../src/transports.js";
import { loadDescriptors } from "../src/limits.js";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const RUN = pathToFileURL(fileURLToPath(new URL("../dist/run.js", import.meta.url))).href;

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
    [["--frobnicate"], /unknown option --frobnicate \(see --help\)/],
    [["--transport"], /--transport needs a value/],
    [["--transport", "--json"], /--transport needs a value/],
    [["--json=yes"], /--json takes no value/],
    [["fifo"], /unexpected argument "fifo"/],
    [["bench", "--size", "64"], /unknown option --size/],
    [["--size", "1KiB", "--max-message-size", "512"], /--size 1024 is over --max-message-size 512/],
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

  it("prints a human summary ending in OK, its latency labelled as loaded and an unloaded round trip beside it", () => {
    const r = demo("--transport", "uds", "--producers", "1", "--messages", "5000", "--size", "1KiB", "--round-trips", "200");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/uds: 1 producers x 5,000 messages x 1024 B/);
    expect(r.stdout).toMatch(/\n {2}latency +p50 [\d.]+ us, p99 [\d.]+ us {2}one-way under full load \(queueing included\)\n/);
    expect(r.stdout).toMatch(/\n {2}round trip p50 [\d.]+ us, p99 [\d.]+ us {2}unloaded \(one message in flight\), 200 x 1 KiB\n/);
    expect(r.stdout).toMatch(/OK: every message arrived/);
    expect(r.stderr).toBe("");
  });

  it("measures the pipe's round trip too (a second pipe toward the child), and says what its latency is in JSON", () => {
    const text = demo("--transport", "pipe", "--producers", "1", "--messages", "2000");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/\n {2}round trip p50 [\d.]+ us, p99 [\d.]+ us/);
    const json = demo("--transport", "pipe", "--producers", "1", "--messages", "2000", "--json");
    const rec = JSON.parse(json.stdout.trim());
    expect(rec.latency).toBe("one-way under full load (queueing included)");
    expect(rec.unloadedRoundTrip).toMatchObject({ ok: true, size: 64 });
    expect(rec.unloadedRoundTrip.p50Us).toBeGreaterThan(0);
  });
});

describe("--help", () => {
  it("lists every option of the demo with its default, and the commands", () => {
    const r = demo("--help");
    expect(r.code).toBe(0);
    for (const [flag, def] of [
      ["--transport <id>", "pipe"],
      ["--producers <P>", "2"],
      ["--messages <M>", "100000"],
      ["--size <S>", "64"],
      ["--max-message-size <B>", "the transport's own limit"],
      ["--round-trips <N>", "1000, fewer for large sizes"],
      ["--json", "off"],
      ["--scenario <name>", "stream"],
      ["--increments <N>", "100000"],
      ["--no-lock", "off"],
      ["--timeout <s>", "scales with the work"],
      ["--clean-stale", "off"],
    ]) {
      const line = r.stdout.split("\n").find((l) => l.trimStart().startsWith(`${flag} `));
      expect(line, flag).toBeDefined();
      expect(line!.endsWith(`(default: ${def})`), line).toBe(true);
    }
    expect(r.stdout).toMatch(/\n {2}bench +the benchmark matrix/);
    expect(r.stdout).toMatch(/\n {2}clean +remove resources/);
    for (const t of transports) expect(r.stdout).toContain(t.id);
  });

  it.each([["bench"], ["clean"]])("`%s --help` prints that command's options, not the demo's", (command) => {
    const r = demo(command, "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ipc-sampler ${command}`);
    // Options only the demo has (bench has a --producers of its own: a list of counts).
    expect(r.stdout).not.toContain("--scenario");
    expect(r.stdout).not.toContain("--round-trips");
  });
});

describe("a message size over a transport's limit", () => {
  it.each(transports.map((t) => [t.id, t] as const))("%s: refused before any process starts, in one line naming the limit, its reason and what lifts it", async (_id, entry) => {
    const limit = (await loadDescriptors([entry])).get(entry.id)!.maxMessageSize;
    const r = demo("--transport", entry.id, "--size", String(limit + 1), "--messages", "1");
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${entry.id} carries messages of at most ${limit.toLocaleString("en-US")} bytes, because ${entry.limitReason}`);
    expect(lines[0]).toContain(`--size ${limit + 1} is over it.`);
    if (entry.limitLifts) expect(lines[0]).toContain(`--max-message-size ${limit + 1} lifts it`);
    expect(lines[0]).toMatch(/[Cc]hoose [a-z]+(, [a-z]+)*( or [a-z]+)?/);
  });

  it("runs with --max-message-size, which the receiver listens with", () => {
    const r = demo("--transport", "semaphore", "--size", "128KiB", "--max-message-size", "128KiB", "--producers", "1", "--messages", "20", "--round-trips", "0", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ transport: "semaphore", size: 131072, ok: true, received: 20 });
  });

  it("is a skipped row of --transport all, with the reason, and a line under the table says what limits it", () => {
    const r = demo("--transport", "all", "--size", "2MiB", "--producers", "1", "--messages", "2", "--round-trips", "0");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rows = r.stdout.split("\n");
    for (const id of ["semaphore", "shm"]) {
      const row = rows.find((l) => l.startsWith(`${id} `));
      expect(row, id).toMatch(/ SKIP .* over its [\d,]+-byte message limit: /);
    }
    expect(rows.find((l) => l.startsWith("uds "))).toMatch(/ OK /);
    expect(r.stdout).toMatch(/\nWhat limits this table: at 2 MiB copying the bytes does: .*\n$/);
  });
});

describe("a failed run", () => {
  it("leads with the producers' first cause (code and message), ahead of its consequences, in the record and the text", async () => {
    // The demo refuses this run up front; started anyway, each producer gets EMSGSIZE.
    const { runScenario } = (await import(RUN)) as typeof import("../src/run.js");
    const entry = transports.find((t) => t.id === "semaphore")!;
    const rec = await runScenario(entry, { producers: 2, messages: 10, size: 1024 * 1024, timeoutMs: 60_000 });
    expect(rec.ok).toBe(false);
    expect(rec.error).toMatch(/^producer [01]: EMSGSIZE: cannot send a 1048576-byte message to semaphore channel .*: the limit is 65516 bytes$/);
    expect(rec.problems![0]).toBe(rec.error);
    const firstConsequence = rec.problems!.findIndex((p) => /never arrived|^total /.test(p));
    expect(firstConsequence).toBeGreaterThan(rec.problems!.findLastIndex((p) => /EMSGSIZE/.test(p)));
    expect(rec.problems!.some((p) => /exited with 1/.test(p))).toBe(false);
    const text = formatSummary(rec).split("\n");
    expect(text[1]).toBe(`  FAILED: ${rec.error}`);
    expect(text[2]).toMatch(/^ {2}then {4}.*never arrived/);
  }, 90_000);
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
    // Enough increments that the two processes overlap even on a loaded machine,
    // where a short run can finish before the other is scheduled (then nothing is lost).
    const r = demo("--scenario", "shared-counter", "--transport", "semaphore", "--producers", "2", "--increments", "200000", "--no-lock", "--json");
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
