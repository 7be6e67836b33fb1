import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { ChannelError } from "@ipc-sampler/core";
import type { NativeAddon } from "./native.js";

let addon: NativeAddon | undefined;

/** Loads the addon once; the error names every place it looked. */
export function native(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(__filename);
  const root = path.resolve(__dirname, "..");
  const tried = [path.join(root, "build", "Release", "ipc_posix.node"), path.join(root, "build", "Debug", "ipc_posix.node")];
  for (const file of tried) {
    if (existsSync(file)) {
      addon = require(file) as NativeAddon;
      return addon;
    }
  }
  try {
    const load = require("node-gyp-build") as (dir: string) => NativeAddon;
    addon = load(root);
    return addon;
  } catch (err) {
    throw new ChannelError(
      "EUNSUPPORTED",
      `@ipc-sampler/posix: the native addon is not built. Looked in:\n  ${tried.join("\n  ")}\n  node-gyp-build(${root}): ${(err as Error).message}\n` +
        `Build it with: pnpm --filter @ipc-sampler/posix run install`,
      { cause: err },
    );
  }
}
