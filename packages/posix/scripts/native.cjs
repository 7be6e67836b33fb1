// The two native addons of @ipc-sampler/posix and how to build one with
// node-gyp. Shared by build-native.cjs (install) and prebuild.cjs (release).
"use strict";
const { spawnSync, execFileSync } = require("node:child_process");
const { existsSync, realpathSync } = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");

/** Each addon is a node-gyp-build directory: binding.gyp, build/Release, prebuilds/<platform>-<arch>. */
const addons = [
  // N-API: one binary serves every Node version.
  { name: "ipc_posix", dir: root, sources: ["binding.gyp", "native"], napi: true },
  // mmap-io 1.1.7's source (nan): one binary per Node ABI.
  { name: "mmap_io", dir: path.join(root, "vendor", "mmap-io"), sources: ["binding.gyp", "src"], napi: false },
];

/** Node's headers installed beside a node binary (a Debian /usr, an official tarball, the npm `node` package), if any. */
function nodeDirOf(nodeBinary) {
  const prefixes = [...new Set([nodeBinary, realpathSync(nodeBinary)].map((p) => path.resolve(path.dirname(p), "..")))];
  const candidates = prefixes.flatMap((p) => [p, path.join(p, "node_modules", `node-${process.platform}-${process.arch}`)]);
  return candidates.find((p) => existsSync(path.join(p, "include", "node", "node_api.h")));
}

/** The node-gyp to run: our own dependency, the package manager's (npm_config_node_gyp), or the one on PATH. */
function nodeGyp() {
  try {
    return [require.resolve("node-gyp/bin/node-gyp.js")];
  } catch {
    const fromManager = process.env.npm_config_node_gyp;
    if (fromManager && existsSync(fromManager)) return [fromManager];
    return undefined;
  }
}

/**
 * `node-gyp rebuild` of an addon for the Node at `nodeBinary`, in the addon's
 * directory or in `cwd` (a copy of its sources); returns node-gyp's exit status.
 */
function build(addon, nodeBinary = process.execPath, { stdio = "inherit", cwd = addon.dir } = {}) {
  const args = ["rebuild", "--jobs=max"];
  const nodedir = nodeDirOf(nodeBinary);
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const gyp = nodeGyp();
  const [cmd, argv] = gyp ? [nodeBinary, [...gyp, ...args]] : ["node-gyp", args];
  // binding.gyp asks node for the nan and node-addon-api include paths: resolve them from here, wherever cwd is.
  const modules = ["nan", "node-addon-api"].map((m) => path.dirname(path.dirname(require.resolve(`${m}/package.json`))));
  const NODE_PATH = [...new Set(modules), process.env.NODE_PATH].filter(Boolean).join(path.delimiter);
  const result = spawnSync(cmd, argv, { cwd, stdio, env: { ...process.env, NODE_PATH } });
  if (result.error) console.error(`@ipc-sampler/posix: cannot run node-gyp: ${result.error.message}`);
  return { status: result.status ?? 1, command: `node-gyp ${args.join(" ")}` };
}

/** process.versions.modules of another node binary. */
function abiOf(nodeBinary) {
  return execFileSync(nodeBinary, ["-p", "process.versions.modules"], { encoding: "utf8" }).trim();
}

module.exports = { addons, build, abiOf, root };
