import { runConformance } from "@ipc-sampler/core/conformance";
import { mqueueTransport } from "../src/posix-mq.js";

runConformance({
  name: "mqueue",
  transport: mqueueTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "mqueueTransport",
});
