// The docs site's data loaders: descriptors from the packages, numbers from a
// results file or a clear notice that there are none.
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { transports } from "../apps/demo/src/transports";
import { loadDescriptors } from "../docs/.vitepress/data/descriptors.data";
import { loadLimits } from "../docs/.vitepress/data/limits.data";
import { loadResults } from "../docs/.vitepress/data/results.data";

const root = path.resolve(fileURLToPath(new URL("..", import.meta.url)));
const fixture = path.join(root, "docs", "test-fixtures", "bench-fixture.json");
// The packages are dependencies of the docs package: resolve them from there.
const fromDocs = createRequire(path.join(root, "docs", "package.json"));

describe("docs data loaders", () => {
  it("has one properties row per registered transport, each a descriptor its package exports or a reason", async () => {
    const rows = await loadDescriptors();
    expect(rows.map((r) => r.id)).toEqual(transports.map((t) => t.id));
    for (const r of rows) {
      if (r.descriptor) {
        const mod: Record<string, { descriptor?: unknown }> = await import(pathToFileURL(fromDocs.resolve(r.packageName)).href);
        expect(r.descriptor).toEqual(mod[r.exportName]?.descriptor);
      } else {
        expect(r.pending).toMatch(/\S/);
      }
    }
  });

  it("says there are no results yet when the results file is missing", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ipcs-docs-"));
    try {
      const r = loadResults(path.join(dir, "latest.json"));
      expect(r.status).toBe("missing");
      if (r.status === "missing") expect(r.message).toContain("run pnpm bench");
      writeFileSync(path.join(dir, "latest.json"), JSON.stringify({ schema: "ipc-sampler/bench@0" }));
      expect(loadResults(path.join(dir, "latest.json")).status).toBe("invalid");
      writeFileSync(path.join(dir, "latest.json"), "{");
      expect(loadResults(path.join(dir, "latest.json")).status).toBe("invalid");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("marks the fixture as a fixture and derives every transport's numbers and ratios from it", () => {
    const r = loadResults(fixture);
    expect(r.status).toBe("ok");
    if (r.status !== "ok") return;
    expect(r.fixture).toBe(true);
    expect(r.transportIds).toEqual(transports.map((t) => t.id));
    for (const id of r.transportIds) {
      const row = r.rows.find((x) => x.transport === id && x.producers === r.producers && x.size === r.summarySize);
      expect(row?.msgsPerSec, id).toBeGreaterThan(0);
      expect(row?.vsNode, id).toBeGreaterThan(0);
    }
    // zeromq has no C reference: its ratio stays empty instead of being invented.
    expect(r.rows.find((x) => x.transport === "zeromq")?.vsC).toBeUndefined();
    // A skipped case stays skipped, with its reason.
    expect(r.rows.some((x) => x.skipped && x.msgsPerSec === undefined)).toBe(true);
    const pipe = r.series.find((s) => s.name === "pipe" && !s.transportOnly);
    expect(pipe?.points.map((p) => p.size)).toEqual(r.sizes);
    // The transport-only column and its chart series, and the ratio to plain Node net, where the file has them.
    const shm = r.rows.find((x) => x.transport === "shm" && x.producers === r.producers && x.size === r.summarySize);
    expect(shm?.transportOnlyMsgsPerSec).toBeGreaterThan(shm!.msgsPerSec!);
    expect(shm?.vsNet).toBeGreaterThan(0);
    expect(r.series.some((s) => s.name === "shm" && s.transportOnly)).toBe(true);
    // Python rows are chart series like any reference.
    expect(r.series.some((s) => s.kind === "python")).toBe(true);
  });

  it("reads a results file written before the transport-only column existed: the column stays empty", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ipcs-docs-"));
    try {
      const old = JSON.parse(readFileSync(fixture, "utf8")) as { throughput: Array<{ transportOnly?: unknown }> };
      for (const row of old.throughput) delete row.transportOnly;
      writeFileSync(path.join(dir, "latest.json"), JSON.stringify(old));
      const r = loadResults(path.join(dir, "latest.json"));
      expect(r.status).toBe("ok");
      if (r.status !== "ok") return;
      expect(r.rows.every((x) => x.transportOnlyMsgsPerSec === undefined)).toBe(true);
      expect(r.series.some((s) => s.transportOnly)).toBe(false);
      expect(r.rows.find((x) => x.transport === "shm")?.msgsPerSec).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads this machine's kernel limits for every transport, where its descriptor says", async () => {
    const l = await loadLimits();
    for (const t of transports) expect(l.byTransport[t.id]?.length, t.id).toBeGreaterThan(0);
    expect(l.byTransport.pipe?.find((x) => x.source === "getconf PIPE_BUF")?.value).toBeGreaterThan(0);
  });
});
