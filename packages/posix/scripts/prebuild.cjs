#!/usr/bin/env node
// Builds the prebuilt binaries shipped in the package, for linux-x64 glibc:
//   node scripts/prebuild.cjs [node-binary ...]      (default: the running node)
// ipc_posix (N-API) once, mmap_io once per Node ABI, named the way
// node-gyp-build looks them up. The running node is built last, so the
// source builds in build/ still match it afterwards.
"use strict";
const { copyFileSync, mkdirSync, rmSync } = require("node:fs");
const path = require("node:path");
const { addons, build, abiOf } = require("./native.cjs");

if (process.platform !== "linux") {
  console.error("prebuild: prebuilt binaries are made on Linux only");
  process.exit(1);
}
const tuple = `${process.platform}-${process.arch}`;
const others = process.argv.slice(2).map((p) => path.resolve(p)).filter((p) => abiOf(p) !== process.versions.modules);
const nodes = [...others, process.execPath];

for (const addon of addons) rmSync(path.join(addon.dir, "prebuilds"), { recursive: true, force: true });
for (const addon of addons) {
  const targets = addon.napi ? [process.execPath] : nodes;
  for (const node of targets) {
    const tag = addon.napi ? "napi" : `abi${abiOf(node)}`;
    const { status, command } = build(addon, node, ["ignore", "ignore", "inherit"]);
    if (status !== 0) {
      console.error(`prebuild: ${command} for ${addon.name} with ${node} failed`);
      process.exit(status);
    }
    const out = path.join(addon.dir, "prebuilds", tuple);
    mkdirSync(out, { recursive: true });
    const file = path.join(out, `node.${tag}.glibc.node`);
    copyFileSync(path.join(addon.dir, "build", "Release", `${addon.name}.node`), file);
    console.log(`prebuild: ${path.relative(process.cwd(), file)}`);
  }
}
