// The site's pages and the orderings they state, checked against a results
// file: used by the build (orderings.data.ts) and the tests.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { claimsIn, evaluate } from "./orderings";
import type { ResultsData } from "./results.data";

/** Markdown pages of the site, relative to docs/ (no examples, no generated API reference). */
export function sitePages(docsDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith(".") || ["node_modules", "api", "examples", "test-fixtures"].includes(e.name)) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".md")) out.push(path.relative(docsDir, p));
    }
  };
  walk(docsDir);
  return out.sort();
}

/** Every claim on every page that the results contradict, as "page: claim: why". */
export function contradictions(docsDir: string, results: ResultsData): string[] {
  const out: string[] = [];
  for (const page of sitePages(docsDir)) {
    for (const claim of claimsIn(readFileSync(path.join(docsDir, page), "utf8"))) {
      const e = evaluate(claim, results);
      if (e.holds === false) out.push(`${page}: <Ordering ${Object.entries(claim).map(([k, v]) => `${k}="${v}"`).join(" ")} />: ${e.why}`);
    }
  }
  return out;
}

