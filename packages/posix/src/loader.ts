import { createRequire } from "node:module";
import path from "node:path";
import { ChannelError } from "@ipc-sampler/core";
import type { NativeAddon } from "./native.js";
import type { MmapIo } from "./mmap-io.js";

const root = path.resolve(__dirname, "..");

/**
 * Loads the addon built in `dir` the way node-gyp-build finds it: a source
 * build (build/Release, build/Debug) first, then the prebuilt binary in
 * prebuilds/<platform>-<arch> that matches this Node. The error names every
 * place it looked and how to get a binary there.
 */
function loadAddon<T>(dir: string, what: string): T {
  const require = createRequire(__filename);
  try {
    const load = require("node-gyp-build") as (dir: string) => T;
    return load(dir);
  } catch (err) {
    const tried = ["build/Release", "build/Debug", `prebuilds/${process.platform}-${process.arch}`].map((d) => path.join(dir, d));
    throw new ChannelError(
      "EUNSUPPORTED",
      `@ipc-sampler/posix: ${what} is not built for Node ${process.version} (ABI ${process.versions.modules}, ${process.platform}-${process.arch}). Looked in:\n  ${tried.join("\n  ")}\n` +
        `${(err as Error).message.trim()}\n` +
        `Reinstall @ipc-sampler/posix on a machine with python3, make and a C++17 compiler (its install script builds from source when no prebuilt binary fits).`,
      { cause: err },
    );
  }
}

let addon: NativeAddon | undefined;

/** The ipc_posix addon (N-API: one binary serves every Node version). */
export function native(): NativeAddon {
  return (addon ??= loadAddon<NativeAddon>(root, "the native addon (ipc_posix)"));
}

let mmapIo: MmapIo | undefined;

/** mmap-io, built from its source in vendor/mmap-io (nan: one binary per Node ABI). */
export function mmapAddon(): MmapIo {
  if (mmapIo) return mmapIo;
  const raw = loadAddon<MmapIo & { sync_lib_private__?: MmapIo["sync"] }>(path.join(root, "vendor", "mmap-io"), "mmap-io");
  // mmap-io's dist/mmap-io.js: hide the raw msync binding behind sync() with its defaults.
  const rawSync = raw.sync_lib_private__;
  if (rawSync) {
    delete raw.sync_lib_private__;
    raw.sync = (buffer, offset = 0, size = buffer.length, blocking = false, invalidate = false) =>
      rawSync(buffer, offset, size, blocking, invalidate);
  }
  return (mmapIo = raw);
}
