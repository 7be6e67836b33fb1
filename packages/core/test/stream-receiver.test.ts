import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync, write } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { ChannelError, GOODBYE, writeFrameHeader, type Address } from "../src/index.js";
import { readInPlace, reusePattern } from "../src/conformance/reuse.js";
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

// reuseBatches over a real pipe (a FIFO's two ends in this process), read in
// place by attachFd: the arena and large frames come from the pool, and the
// writer runs on libuv's thread pool so a full pipe never blocks this loop.
describe("StreamReceiver reuseBatches", () => {
  const lengths = [100 * 1024, 5, 1024 * 1024 + 3, 70 * 1024, 3, 200 * 1024, 1024 * 1024 + 3, 64 * 1024, 9, 300 * 1024, 1024 * 1024 + 3, 100 * 1024];
  const sizes = [...lengths, ...lengths, ...lengths];

  async function overPipe(reuseBatches: boolean) {
    const dir = mkdtempSync(join(tmpdir(), "ipcs-reuse-"));
    const path = join(dir, "fifo");
    execFileSync("mkfifo", [path]);
    const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeFd = openSync(path, constants.O_WRONLY);
    const address: Address = { transport: "test", maxMessageSize: 2 << 20 };
    const r = new StreamReceiver(address, {
      expectedProducers: 1,
      reuseBatches,
      admit: async () => ({ address, inherit: [], release() {} }),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
      describe: (p) => `producer ${p}`,
    });
    r.attachFd(readFd);
    const writing = (async () => {
      for (const [i, n] of sizes.entries()) {
        const head = Buffer.alloc(4);
        writeFrameHeader(head, 0, n);
        await writeAll(writeFd, Buffer.concat([head, reusePattern(i, n)]));
      }
      const bye = Buffer.alloc(4);
      writeFrameHeader(bye, 0, GOODBYE);
      await writeAll(writeFd, bye);
      closeSync(writeFd);
    })();
    return { r, writing };
  }

  function writeAll(fd: number, b: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const step = (at: number) => {
        if (at === b.length) return resolve();
        write(fd, b, at, b.length - at, null, (err, n) => (err ? reject(err) : step(at + n)));
      };
      step(0);
    });
  }

  it.each([
    ["read as they come", false],
    ["all queued before the first is read", true],
  ])("reuses a large message's memory once batches() moves past it, each message whole when its batch is read (%s)", async (_, queued) => {
    const { r, writing } = await overPipe(true);
    // All of it (under 12 MiB) fits below the receiver's high-water mark: nothing is given back while it waits.
    if (queued) await writing;
    const got = await readInPlace(r.batches(), sizes);
    await writing;
    await r.close();
    expect(got.wrong).toEqual([]);
    expect(got.count).toBe(sizes.length);
    // Without reuse every large message (and every arena) is memory of its own; queued, none could be reused.
    if (queued) expect(got.buffers).toBeGreaterThanOrEqual(got.large / 2);
    else expect(got.buffers).toBeLessThan(got.large / 2);
  }, 30_000);

  it("never reuses what the message iterator handed out, nor batches without the option", async () => {
    for (const [reuse, how] of [[true, "messages"], [false, "batches"]] as const) {
      const { r, writing } = await overPipe(reuse);
      const kept: Uint8Array[] = [];
      if (how === "messages") for await (const m of r) kept.push(m);
      else for await (const b of r.batches()) for (let k = 0; k < b.count; k++) kept.push(b.data.subarray(b.offsets[2 * k]!, b.offsets[2 * k]! + b.offsets[2 * k + 1]!));
      await writing;
      await r.close();
      expect(kept.map((m) => m.length)).toEqual(sizes);
      kept.forEach((m, i) => expect(Buffer.from(m).equals(reusePattern(i, sizes[i]!)), `${how}: message ${i}`).toBe(true));
    }
  }, 30_000);
});
