// The two native addons of @ipc-sampler/posix and how to build one with
// node-gyp. Shared by build-native.cjs (install) and prebuild.cjs (release).
"use strict";
const { spawnSync, execFileSync } = require("node:child_process");
const { existsSync, readFileSync, realpathSync } = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");

/** Each addon is a node-gyp-build directory: binding.gyp, build/Release, prebuilds/<platform>-<arch>. */
const addons = [
  // N-API: one binary serves every Node version.
  { name: "ipc_posix", dir: root, sources: ["binding.gyp", "native"], napi: true },
  // mmap-io 1.1.7's source (nan): one binary per Node ABI.
  { name: "mmap_io", dir: path.join(root, "vendor", "mmap-io"), sources: ["binding.gyp", "src"], napi: false },
];

/** The Node version whose headers are in `dir`/include/node, e.g. "22.23.3", or undefined. */
function headersVersion(dir) {
  try {
    const h = readFileSync(path.join(dir, "include", "node", "node_version.h"), "utf8");
    const part = (n) => new RegExp(`#define NODE_${n}_VERSION (\\d+)`).exec(h)?.[1];
    return `${part("MAJOR")}.${part("MINOR")}.${part("PATCH")}`;
  } catch {
    return undefined;
  }
}

/**
 * Headers for the Node at `nodeBinary` (version `version`): installed beside
 * it (a Debian /usr, an official tarball, the npm `node` package), or the
 * package manager's configured nodedir when it holds the same major version.
 * A nan addon built against another major's headers would not load.
 */
function nodeDirOf(nodeBinary, version) {
  const prefixes = [...new Set([nodeBinary, realpathSync(nodeBinary)].map((p) => path.resolve(path.dirname(p), "..")))];
  const candidates = prefixes.flatMap((p) => [p, path.join(p, "node_modules", `node-${process.platform}-${process.arch}`)]);
  if (process.env.npm_config_nodedir) candidates.push(process.env.npm_config_nodedir);
  const major = version.split(".")[0];
  return candidates.find((p) => headersVersion(p)?.split(".")[0] === major);
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
  const version = execFileSync(nodeBinary, ["-p", "process.versions.node"], { encoding: "utf8" }).trim();
  const args = ["rebuild", "--jobs=max"];
  const nodedir = nodeDirOf(nodeBinary, version);
  // No headers here: node-gyp fetches this version's (a configured nodedir of another version must not be used).
  args.push(nodedir ? `--nodedir=${nodedir}` : `--target=${version}`);
  const gyp = nodeGyp();
  const [cmd, argv] = gyp ? [nodeBinary, [...gyp, ...args]] : ["node-gyp", args];
  // binding.gyp asks node for the nan and node-addon-api include paths: resolve them from here, wherever cwd is.
  const modules = ["nan", "node-addon-api"].map((m) => path.dirname(path.dirname(require.resolve(`${m}/package.json`))));
  const NODE_PATH = [...new Set(modules), process.env.NODE_PATH].filter(Boolean).join(path.delimiter);
  // node-gyp lets npm_config_* in the environment override its command line: say the same there.
  const env = { ...process.env, NODE_PATH };
  if (nodedir) env.npm_config_nodedir = nodedir;
  else delete env.npm_config_nodedir;
  const result = spawnSync(cmd, argv, { cwd, stdio, env });
  if (result.error) console.error(`@ipc-sampler/posix: cannot run node-gyp: ${result.error.message}`);
  return { status: result.status ?? 1, command: `node-gyp ${args.join(" ")}` };
}

/** Loads a built addon in the Node at `nodeBinary`; returns the error message, or undefined when it loads. */
function loadError(file, nodeBinary = process.execPath) {
  const r = spawnSync(nodeBinary, ["-e", `require(${JSON.stringify(file)})`], { encoding: "utf8" });
  return r.status === 0 ? undefined : (r.stderr || `exit ${r.status}`).trim().split("\n").find((l) => /Error|error/.test(l)) ?? r.stderr.trim();
}

/** process.versions.modules of another node binary. */
function abiOf(nodeBinary) {
  return execFileSync(nodeBinary, ["-p", "process.versions.modules"], { encoding: "utf8" }).trim();
}

module.exports = { addons, build, abiOf, loadError, root };
