import { runConformance } from "@ipc-sampler/core/conformance";
import { mqUnlink } from "@ipc-sampler/posix";
import { mqueueTransport, type MqueueAddress } from "../src/posix-mq.js";

runConformance({
  name: "mqueue",
  transport: mqueueTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "mqueueTransport",
  // A queue outlives its killed owner in the kernel.
  removeAfterKill: (a) => mqUnlink((a as MqueueAddress).name),
});
