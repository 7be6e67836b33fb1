// Every code example on the site is a real file: type-checked here, run
// here, and included by the pages with `<<< @/examples/...`.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { transports } from "../apps/demo/src/transports";

const root = path.resolve(fileURLToPath(new URL("..", import.meta.url)));
const docs = path.join(root, "docs");
const examples = path.join(docs, "examples");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");

const mechanisms = readdirSync(examples, { withFileTypes: true })
  .filter((e) => e.isDirectory() && !e.name.startsWith("."))
  .map((e) => e.name)
  .sort();

function run(cmd: string, args: string[], timeout: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: root, timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function pageOf(id: string): string {
  return readFileSync(path.join(docs, "mechanisms", `${id}.md`), "utf8");
}

describe("docs examples", () => {
  it("every example folder has a sender.ts and a receiver.ts, for a registered transport", () => {
    const ids = transports.map((t) => t.id);
    for (const m of mechanisms) {
      expect(ids, `examples/${m} names a transport`).toContain(m);
      expect(existsSync(path.join(examples, m, "sender.ts")), `examples/${m}/sender.ts`).toBe(true);
      expect(existsSync(path.join(examples, m, "receiver.ts")), `examples/${m}/receiver.ts`).toBe(true);
    }
  });

  it("every page includes its example files, or says the example is pending; no page has an example of its own", () => {
    for (const t of transports) {
      const page = pageOf(t.id);
      if (mechanisms.includes(t.id)) {
        expect(page, `${t.id}.md includes receiver.ts`).toContain(`<<< @/examples/${t.id}/receiver.ts`);
        expect(page, `${t.id}.md includes sender.ts`).toContain(`<<< @/examples/${t.id}/sender.ts`);
      } else {
        expect(page, `${t.id}.md says its example is pending`).toContain("Example pending");
      }
      // Code in a mechanism page comes from files: no fenced TypeScript written in the markdown.
      expect(page).not.toMatch(/```(ts|typescript|js|javascript)\b/);
    }
    // And every snippet import points at a file that exists.
    const md = ["index.md", "comparison.md", "methodology.md", "python.md", ...transports.map((t) => `mechanisms/${t.id}.md`), ...readdirSync(path.join(docs, "primitives")).map((f) => `primitives/${f}`)];
    for (const f of md) {
      for (const m of readFileSync(path.join(docs, f), "utf8").matchAll(/^<<< @\/(\S+?)(?:\{.*\})?(?: \[.*\])?$/gm)) {
        expect(existsSync(path.join(docs, m[1]!)), `${f} includes ${m[1]}`).toBe(true);
      }
    }
  });

  it("type-checks (tsc --noEmit -p docs/examples)", async () => {
    const r = await run(process.execPath, [tsc, "--noEmit", "-p", "docs/examples"], 120_000);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 120_000);

  describe("runs", () => {
    let compiled: Promise<void> | undefined;
    const compile = () =>
      (compiled ??= run(process.execPath, [tsc, "-p", "docs/examples"], 120_000).then((r) => {
        if (r.code !== 0) throw new Error(`tsc -p docs/examples failed:\n${r.stdout}${r.stderr}`);
      }));
    for (const m of mechanisms) {
      it(`${m}: receiver.ts starts sender.ts and receives everything`, async () => {
        await compile();
        const r = await run(process.execPath, [path.join(examples, ".out", m, "receiver.js")], 30_000);
        expect(r.stderr).toBe("");
        expect(r.code, r.stdout).toBe(0);
        expect(r.stdout).toMatch(/received \d+/);
      }, 60_000);
    }
  });
});
