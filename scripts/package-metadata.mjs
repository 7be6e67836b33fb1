#!/usr/bin/env node
// The fields every published package carries, kept in one place: license,
// repository (with the package's directory), homepage, bugs, engines (the
// root package.json's, which is what the tests run on), publishConfig, the
// shared keywords, and a copy of the root LICENSE.
//   node scripts/package-metadata.mjs          writes them into every publishable package (packages/*, apps/*)
//   node scripts/package-metadata.mjs --check  lists what differs, exits 1 if anything does
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { publishablePackages, ROOT as root } from "./packages.mjs";

const check = process.argv.includes("--check");
const rootManifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const license = readFileSync(path.join(root, "LICENSE"), "utf8");
const repo = rootManifest.repository.url.replace(/^git\+/, "").replace(/\.git$/, "");
const KEYWORDS = ["ipc", "inter-process communication", "linux", "ipc-sampler"];

const problems = [];
for (const { dir, folder, manifest: m } of publishablePackages()) {
  const file = path.join(dir, "package.json");
  const text = readFileSync(file, "utf8");
  const want = {
    license: "MIT",
    repository: { type: "git", url: rootManifest.repository.url, directory: folder },
    homepage: `${repo}/tree/main/${folder}#readme`,
    bugs: { url: `${repo}/issues` },
    keywords: [...new Set([...KEYWORDS, ...(m.keywords ?? [])])],
    engines: rootManifest.engines,
    publishConfig: { access: "public" },
  };
  // Keep the manifest's own order; new fields go after "description".
  const out = {};
  for (const [k, v] of Object.entries(m)) {
    out[k] = k in want ? want[k] : v;
    if (k === "description") for (const [wk, wv] of Object.entries(want)) if (!(wk in m)) out[wk] = wv;
  }
  const next = `${JSON.stringify(out, null, 2)}\n`;
  if (next !== text) problems.push(`${m.name}: package.json fields differ`);
  const licensePath = path.join(dir, "LICENSE");
  if (!existsSync(licensePath) || readFileSync(licensePath, "utf8") !== license) problems.push(`${m.name}: LICENSE missing or not the root LICENSE`);
  if (!check) {
    writeFileSync(file, next);
    writeFileSync(licensePath, license);
  }
}
if (check) {
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error("run: node scripts/package-metadata.mjs");
    process.exit(1);
  }
} else console.log(`package metadata: ${problems.length} change(s) written`);
