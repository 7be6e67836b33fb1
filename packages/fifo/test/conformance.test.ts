import { runConformance } from "@ipc-sampler/core/conformance";
import { fifoTransport } from "../src/index.js";

runConformance({
  name: "fifo",
  transport: fifoTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "fifoTransport",
  leftovers: (r) => [String(r.address.path)],
});
