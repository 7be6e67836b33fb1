import { runConformance } from "@ipc-sampler/core/conformance";
import type { ShmAddress } from "../src/index.js";
import { shmTransport } from "../src/index.js";

runConformance({
  name: "shm",
  transport: shmTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "shmTransport",
  reserving: true,
  leftovers: (r) => [(r.address as ShmAddress).path],
});
