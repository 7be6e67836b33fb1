import { PassThrough } from "node:stream";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { ChannelError, GOODBYE, writeFrameHeader, type Address } from "../src/index.js";
import { StreamReceiver } from "../src/stream.js";

// Frames parsed from arbitrary chunk boundaries: the parser alone, fed by an
// in-memory stream. Cross-process behaviour is proven by each transport's
// conformance run; this pins the reassembly logic at every split point.
function frames(messages: Uint8Array[], goodbye: boolean): Buffer {
  const parts: Buffer[] = [];
  for (const m of messages) {
    const h = Buffer.alloc(4);
    writeFrameHeader(h, 0, m.length);
    parts.push(h, Buffer.from(m));
  }
  if (goodbye) {
    const h = Buffer.alloc(4);
    writeFrameHeader(h, 0, GOODBYE);
    parts.push(h);
  }
  return Buffer.concat(parts);
}

async function receive(wire: Buffer, splits: number[], max = 1 << 20) {
  const address: Address = { transport: "test", maxMessageSize: max };
  const lost: ChannelError[] = [];
  const r = new StreamReceiver(address, {
    expectedProducers: 1,
    onPeerLost: (e) => lost.push(e),
    admit: async () => ({ address, inherit: [], release() {} }),
    cleanup: () => {},
    describe: (p) => `producer ${p}`,
  });
  const stream = new PassThrough();
  r.attach(stream as unknown as Socket);
  let at = 0;
  for (const s of [...splits, wire.length]) {
    stream.write(wire.subarray(at, s));
    at = s;
  }
  stream.end();
  const got: number[][] = [];
  for await (const m of r) got.push(Array.from(m));
  await r.close();
  return { got, lost };
}

describe("StreamReceiver framing", () => {
  const messages = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.from({ length: 300 }, (_, i) => i & 0xff), Uint8Array.of(9)];
  const expected = messages.map((m) => Array.from(m));

  it("reassembles messages split at every byte boundary", async () => {
    const wire = frames(messages, true);
    for (let cut = 1; cut < wire.length; cut++) {
      const { got, lost } = await receive(wire, [cut]);
      expect(got).toEqual(expected);
      expect(lost).toEqual([]);
    }
  });

  it("reassembles byte-by-byte delivery", async () => {
    const wire = frames(messages, true);
    const { got } = await receive(wire, Array.from({ length: wire.length - 1 }, (_, i) => i + 1));
    expect(got).toEqual(expected);
  });

  it("reports a stream that ends without goodbye, dropping the partial frame", async () => {
    const wire = frames(messages, false);
    const { got, lost } = await receive(wire.subarray(0, wire.length - 1), [5]);
    expect(got).toEqual(expected.slice(0, 3));
    expect(lost).toHaveLength(1);
    expect(lost[0]!.code).toBe("EPEERGONE");
    expect(lost[0]!.message).toContain("partial");
  });

  it("treats a frame over the limit as a protocol error, not a huge allocation", async () => {
    const wire = frames([new Uint8Array(100)], true);
    const { got, lost } = await receive(wire, [], 50);
    expect(got).toEqual([]);
    expect(lost[0]!.code).toBe("EPROTO");
  });
});
