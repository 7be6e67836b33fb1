import { runConformance } from "@ipc-sampler/core/conformance";
import { beforeAll } from "vitest";
import { Pull } from "zeromq";
import type { ZeromqAddress } from "../src/index.js";
import { zeromqTransport } from "../src/index.js";

// libzmq's process-wide context (its I/O and reaper threads, a few descriptors)
// starts with the first socket and lives as long as the process. Start it before
// the kit counts descriptors; zeromq-ipc.test.ts shows channels themselves leave none.
beforeAll(() => new Pull().close());

runConformance({
  name: "zeromq (ipc://)",
  transport: zeromqTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "zeromqTransport",
  leftovers: (r) => {
    const a = r.address as ZeromqAddress;
    return [a.endpoint, a.ackEndpoint!].map((e) => e.slice("ipc://".length));
  },
});
