import { runConformance } from "@ipc-sampler/core/conformance";
import type { ZeromqAddress } from "../src/zeromq.js";
import { zeromqTransport } from "../src/zeromq.js";

runConformance({
  name: "zeromq (ipc://)",
  transport: zeromqTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "zeromqTransport",
  leftovers: (r) => [(r.address as ZeromqAddress).endpoint.slice("ipc://".length)],
});
