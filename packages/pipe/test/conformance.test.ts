import { runConformance } from "@ipc-sampler/core/conformance";
import { pipeTransport } from "../src/index.js";

runConformance({
  name: "pipe",
  transport: pipeTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "pipeTransport",
});
