import { runConformance } from "@ipc-sampler/core/conformance";
import type { UdsAddress } from "../src/index.js";
import { tcpTransport, udsTransport } from "../src/index.js";

runConformance({
  name: "uds",
  transport: udsTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "udsTransport",
  leftovers: (r) => [(r.address as UdsAddress).path],
});

runConformance({
  name: "tcp",
  transport: tcpTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "tcpTransport",
});
