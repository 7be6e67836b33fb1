#!/usr/bin/env node
// Builds the addon from source with node-gyp. When Node's own headers are
// installed next to the running node (/usr/include/node on Debian), point
// node-gyp at them so nothing is downloaded.
"use strict";
const { spawnSync } = require("node:child_process");
const { existsSync } = require("node:fs");
const path = require("node:path");

const prefix = path.resolve(path.dirname(process.execPath), "..");
const args = ["rebuild"];
if (existsSync(path.join(prefix, "include", "node", "node_api.h"))) args.push(`--nodedir=${prefix}`);
const gyp = require.resolve("node-gyp/bin/node-gyp.js");
const result = spawnSync(process.execPath, [gyp, ...args], { cwd: path.resolve(__dirname, ".."), stdio: "inherit" });
if (result.status !== 0) {
  console.error(`@ipc-sampler/posix: building the native addon failed (node-gyp ${args.join(" ")}). It needs python3, make and a C++17 compiler.`);
  process.exit(result.status ?? 1);
}
