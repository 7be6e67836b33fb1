import { runConformance } from "@ipc-sampler/core/conformance";
import type { MmapAddress } from "../src/index.js";
import { mmapTransport } from "../src/index.js";

runConformance({
  name: "mmap",
  transport: mmapTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "mmapTransport",
  reserving: true,
  leftovers: (r) => [(r.address as MmapAddress).directory],
});
