#!/usr/bin/env node
// The install script. For each addon, a prebuilt binary that loads in this
// Node is used as is; otherwise the addon is built from source with node-gyp
// (against the Node headers beside the running node when they are installed,
// so nothing is downloaded). `npm install --build-from-source` (or
// IPC_SAMPLER_BUILD_FROM_SOURCE=1) skips the prebuilt binaries, and so does
// a checkout of the repository (the package is not inside a node_modules),
// where the sources may be newer than any prebuilt binary.
"use strict";
const path = require("node:path");
const { addons, build, loadError, root } = require("./native.cjs");

const installed = root.split(path.sep).includes("node_modules");
const fromSource = !installed || !!(process.env.npm_config_build_from_source || process.env.IPC_SAMPLER_BUILD_FROM_SOURCE);

function prebuiltLoads(addon) {
  process.env.PREBUILDS_ONLY = "1"; // node-gyp-build: skip build/, look only in prebuilds/
  try {
    const file = require("node-gyp-build").path(addon.dir);
    require(file);
    return file;
  } catch {
    return undefined;
  } finally {
    delete process.env.PREBUILDS_ONLY;
  }
}

for (const addon of addons) {
  // node-gyp-build reads PREBUILDS_ONLY when it is first loaded; load it fresh for the check.
  delete require.cache[require.resolve("node-gyp-build")];
  const prebuilt = fromSource ? undefined : prebuiltLoads(addon);
  if (prebuilt) {
    console.log(`@ipc-sampler/posix: ${addon.name}: using the prebuilt ${prebuilt}`);
    continue;
  }
  const { status, command } = build(addon);
  if (status !== 0) {
    console.error(
      `@ipc-sampler/posix: building ${addon.name} from source failed (${command} in ${addon.dir}). ` +
        (fromSource
          ? "Building from source was asked for (a checkout, --build-from-source or IPC_SAMPLER_BUILD_FROM_SOURCE); "
          : `No prebuilt binary fits ${process.platform}-${process.arch} Node ${process.version} (ABI ${process.versions.modules}); `) +
        `building needs python3, make and a C++17 compiler (Debian: apt-get install python3 make g++).`,
    );
    process.exit(status);
  }
  const built = path.join(addon.dir, "build", "Release", `${addon.name}.node`);
  const error = loadError(built);
  if (error) {
    console.error(`@ipc-sampler/posix: ${addon.name} was built but does not load in Node ${process.version}: ${error}`);
    process.exit(1);
  }
}
