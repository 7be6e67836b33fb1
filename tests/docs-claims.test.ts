// The site's claims against its sources: orderings against the results it
// ships (data/orderings.ts), facts against the descriptors the packages
// export. No build, no browser: pages are read as Markdown.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { MechanismDescriptor } from "@ipc-sampler/core";
import { afterAll, describe, expect, it } from "vitest";
import { loadDescriptors } from "../docs/.vitepress/data/descriptors.data";
import { checkOrderings } from "../docs/.vitepress/data/orderings.data";
import { claimsIn, evaluate, unbackedOrderings } from "../docs/.vitepress/data/orderings";
import { contradictions, sitePages } from "../docs/.vitepress/data/orderings-pages";
import { loadResults } from "../docs/.vitepress/data/results.data";
import { fmtBytes } from "../docs/.vitepress/theme/format";

const root = path.resolve(fileURLToPath(new URL("..", import.meta.url)));
const docs = path.join(root, "docs");
const shippedFile = path.join(root, "bench", "results", "latest.json");
const shipped = loadResults(shippedFile);
const fixture = loadResults(path.join(docs, "test-fixtures", "bench-fixture.json"));
const read = (page: string) => readFileSync(path.join(docs, page), "utf8");

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe("orderings on the site come from the results", () => {
  it.skipIf(shipped.status !== "ok")("no page states an ordering the shipped results contradict", () => {
    expect(contradictions(docs, shipped)).toEqual([]);
  });

  it("every paragraph that ranks or compares speed carries an <Ordering> from the data", () => {
    const found = sitePages(docs).flatMap((p) => unbackedOrderings(read(p)).map((b) => `${p}: ${b}`));
    expect(found).toEqual([]);
  });

  it("finds a contradicted ordering on a page, of every kind", () => {
    if (shipped.status !== "ok") return;
    const dir = mkdtempSync(path.join(tmpdir(), "ipcs-docs-claims-"));
    temps.push(dir);
    mkdirSync(path.join(dir, "mechanisms"));
    writeFileSync(path.join(dir, "index.md"), 'TCP is slow <Ordering id="mqueue" than="tcp" size="1048576" /> and <Ordering id="shm" than="uds" size="1024" />.\n');
    writeFileSync(path.join(dir, "mechanisms", "x.md"), 'Last: <Ordering id="shm" place="last" />. Two CPUs win: <Ordering metric="roundtrip" id="c-pipe" placement="split-cpu" />.\n');
    const wrong = contradictions(dir, shipped);
    expect(wrong).toHaveLength(3);
    expect(wrong.join("\n")).toMatch(/index\.md: .*mqueue.*tcp/);
    expect(wrong.join("\n")).toMatch(/x\.md: .*place="last"/);
    expect(wrong.join("\n")).toMatch(/x\.md: .*split-cpu/);
    // The docs build stops on them (the loader the <Ordering> component imports).
    expect(() => checkOrderings(shippedFile, dir)).toThrow(/contradict 3 stated ordering/);
    expect(checkOrderings(shippedFile)).toEqual({ checked: true });
    // Prose that compares without the tag is caught too.
    expect(unbackedOrderings("TCP is slower than local mechanisms.\n\n| a | faster |\n")).toHaveLength(2);
  });

  it("never judges the fixture's invented numbers", () => {
    for (const page of sitePages(docs)) for (const c of claimsIn(read(page))) expect(evaluate(c, fixture).holds, `${page} ${c.id}`).toBeUndefined();
  });
});

/** Sections of a Markdown page by their `## ` heading. */
function sections(markdown: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of markdown.split(/^## /m).slice(1)) {
    const nl = part.indexOf("\n");
    out[part.slice(0, nl).trim()] = part.slice(nl + 1);
  }
  return out;
}

const NUMBER: Record<string, number> = { no: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6 };

/** Every way a page restates a descriptor value, with what it says. */
function restated(text: string): { copies: number[]; persistence: MechanismDescriptor["persistence"][]; largest: string[] } {
  const copies = [...text.matchAll(/\b(no|one|two|three|four|five|six|\d+) cop(?:y|ies) per message\b/gi)].map((m) => NUMBER[m[1]!.toLowerCase()] ?? Number(m[1]));
  const persistence: MechanismDescriptor["persistence"][] = [];
  if (/kernel persistence/i.test(text)) persistence.push("kernel");
  if (/file-system persistence|stays? in the file system until removed|lives in the file system until removed/i.test(text)) persistence.push("filesystem");
  if (/^None\b/m.test(text)) persistence.push("process");
  const largest = [...text.matchAll(/largest message (?:is|of) ([\d.]+ [KMG]?i?B)/gi)].map((m) => m[1]!);
  return { copies, persistence, largest };
}

describe("facts on the site come from the descriptors", async () => {
  const rows = (await loadDescriptors()).filter((r) => r.descriptor);
  const pageOf = (id: string) => `mechanisms/${id}.md`;

  it.each(rows.map((r) => [r.id, r.descriptor!] as const))("%s: the page restates no descriptor value differently", (id, d) => {
    const page = read(pageOf(id));
    const s = sections(page);
    const said = restated(page);
    for (const n of said.copies) expect(n, `${id}: copies per message`).toBe(d.copiesPerMessage);
    for (const size of said.largest) expect(size, `${id}: largest message`).toBe(fmtBytes(d.maxMessageSize));
    const persistence = restated(s["Persistence"] ?? "").persistence;
    expect(persistence, `${id}: the Persistence section names the descriptor's persistence`).toEqual([d.persistence]);
    // What the kernel object allows, and what this package does with it.
    if (d.persistence !== "process") expect(s["Persistence"], `${id}: says what the receiver removes on close`).toMatch(/(removes?|unlinks?|removed)\b[^.]*\bon close/);
    const direction = s["Direction"] ?? "";
    if (d.direction === "duplex") expect(direction, `${id}: a duplex object used one way says so`).toMatch(/duplex[\s\S]*one way/i);
    else expect(direction, `${id}: one-way`).not.toMatch(/\bduplex\b/i);
  });

  it("rows of the decision guide agree with the descriptors of the mechanisms they name", () => {
    const byId = new Map(rows.map((r) => [r.id, r.descriptor!]));
    for (const line of read("index.md").split("\n").filter((l) => l.startsWith("| "))) {
      const ids = [...line.matchAll(/mechanisms\/([a-z]+)\.md/g)].map((m) => m[1]!).filter((id) => byId.has(id));
      const cells = line.split("|");
      const use = ids.filter((id) => (cells[2] ?? "").includes(`mechanisms/${id}.md`));
      const said = restated(line);
      for (const id of use) for (const n of said.copies) expect(n, `${id} in: ${line}`).toBe(byId.get(id)!.copiesPerMessage);
      if (/network address/.test(line)) expect(use.sort()).toEqual(rows.filter((r) => r.descriptor!.crossesMachines).map((r) => r.id).sort());
    }
  });
});
