// The one bundler config every package reuses: a later move to another
// bundler (tsdown) is a change to this file alone.
import { defineConfig, type Options } from "tsup";

export function packageConfig(entry: Options["entry"] = { index: "src/index.ts" }, extra: Partial<Options> = {}) {
  return defineConfig({
    entry,
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "node20",
    platform: "node",
    // Shared chunks keep one copy of each class per format, so instanceof
    // holds across entry points (ChannelError above all).
    splitting: true,
    shims: true,
    ...extra,
  });
}
