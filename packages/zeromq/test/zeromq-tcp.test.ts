import { closingAfterEach, runConformance } from "@ipc-sampler/core/conformance";
import { beforeAll, describe, expect, it } from "vitest";
import { Pull } from "zeromq";
import type { Receiver } from "@ipc-sampler/core";
import type { ZeromqAddress } from "../src/index.js";
import { zeromqTransport } from "../src/index.js";

// The same behaviour over tcp:// on loopback, the endpoint that reaches other machines.
// libzmq's process-wide context (its I/O and reaper threads, a few descriptors)
// starts with the first socket and lives as long as the process. Start it before
// the kit counts descriptors; zeromq-ipc.test.ts shows channels themselves leave none.
beforeAll(() => new Pull().close());

runConformance({
  name: "zeromq (tcp://127.0.0.1)",
  transport: zeromqTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "zeromqTransport",
  listenOptions: { listen: "tcp" },
});

describe("zeromq tcp:// endpoint", () => {
  let receiver: Receiver | undefined;
  const closing = closingAfterEach();

  it("binds to loopback on a port the kernel picks, unless told otherwise", async () => {
    receiver = closing(await zeromqTransport.listen({ listen: "tcp", expectedProducers: 1 }));
    const endpoint = (receiver.address as ZeromqAddress).endpoint;
    expect(endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(endpoint.split(":").pop())).toBeGreaterThan(0);
  });

  it("refuses a port that is already bound with a typed error", async () => {
    receiver = closing(await zeromqTransport.listen({ listen: "tcp" }));
    const endpoint = (receiver.address as ZeromqAddress).endpoint;
    await expect(zeromqTransport.listen({ listen: endpoint })).rejects.toMatchObject({ name: "ChannelError" });
  });
});
