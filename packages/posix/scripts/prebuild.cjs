#!/usr/bin/env node
// Builds the prebuilt binaries shipped in the package, for linux-x64 glibc:
//   node scripts/prebuild.cjs [node-binary ...]      (default: the running node)
// ipc_posix (N-API) once, mmap_io once per Node ABI, named the way
// node-gyp-build looks them up. Each build runs in a temporary copy of the
// addon's sources, so build/ (what this checkout loads) is never touched.
"use strict";
const { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");
const { addons, build, abiOf, loadError } = require("./native.cjs");

if (process.platform !== "linux") {
  console.error("prebuild: prebuilt binaries are made on Linux only");
  process.exit(1);
}
const tuple = `${process.platform}-${process.arch}`;
const others = process.argv.slice(2).map((p) => path.resolve(p)).filter((p) => abiOf(p) !== process.versions.modules);
const nodes = [process.execPath, ...others];

for (const addon of addons) rmSync(path.join(addon.dir, "prebuilds"), { recursive: true, force: true });
for (const addon of addons) {
  const targets = addon.napi ? [process.execPath] : nodes;
  for (const node of targets) {
    const tag = addon.napi ? "napi" : `abi${abiOf(node)}`;
    const stage = mkdtempSync(path.join(tmpdir(), `prebuild-${addon.name}-`));
    for (const s of addon.sources) cpSync(path.join(addon.dir, s), path.join(stage, s), { recursive: true });
    const { status, command } = build(addon, node, { stdio: ["ignore", "ignore", "inherit"], cwd: stage });
    if (status !== 0) {
      rmSync(stage, { recursive: true, force: true });
      console.error(`prebuild: ${command} for ${addon.name} with ${node} failed`);
      process.exit(status);
    }
    const out = path.join(addon.dir, "prebuilds", tuple);
    mkdirSync(out, { recursive: true });
    const file = path.join(out, `node.${tag}.glibc.node`);
    copyFileSync(path.join(stage, "build", "Release", `${addon.name}.node`), file);
    rmSync(stage, { recursive: true, force: true });
    const error = loadError(file, node);
    if (error) {
      rmSync(file);
      console.error(`prebuild: ${file} does not load in ${node}: ${error}`);
      process.exit(1);
    }
    console.log(`prebuild: ${path.relative(process.cwd(), file)}`);
  }
}
