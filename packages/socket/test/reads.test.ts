// How an accepted connection is read once the handshake is over: through a
// duplicate of its descriptor, every read landing in one buffer that the next
// read overwrites. Real sockets, one process: the peer here writes the framing
// by hand, a piece per event-loop turn, so the receiver's reads end where the
// pieces do.
import { once } from "node:events";
import { connect as netConnect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { GOODBYE, writeFrameHeader, type ChannelError, type Receiver } from "@ipc-sampler/core";
import { closeAfterEach } from "@ipc-sampler/core/conformance";
import { answerHandshake } from "../src/handshake.js";
import { tcpTransport, udsTransport, type TcpAddress, type UdsAddress } from "../src/index.js";

const receivers = closeAfterEach();

function message(i: number, length: number): Buffer {
  const m = Buffer.allocUnsafe(length);
  for (let j = 0; j < length; j++) m[j] = (i * 31 + j) & 0xff;
  return m;
}

function wire(lengths: number[], goodbye = true): Buffer {
  const parts: Buffer[] = [];
  lengths.forEach((n, i) => {
    const h = Buffer.alloc(4);
    writeFrameHeader(h, 0, n);
    parts.push(h, message(i, n));
  });
  if (goodbye) {
    const h = Buffer.alloc(4);
    writeFrameHeader(h, 0, GOODBYE);
    parts.push(h);
  }
  return Buffer.concat(parts);
}

const turn = () => new Promise((resolve) => setTimeout(resolve, 1));

type Kind = "uds" | "tcp";

async function listen(kind: Kind, options: { expectedProducers: number; maxMessageSize?: number; maxConnections?: number; reuseBatches?: boolean }) {
  const lost: ChannelError[] = [];
  const settings = { ...options, onPeerLost: (e: ChannelError) => lost.push(e) };
  const r: Receiver = kind === "uds" ? await udsTransport.listen(settings) : await tcpTransport.listen(settings);
  receivers.push(r);
  return { r, lost };
}

/** A peer that passes the handshake, then speaks the framing by hand. */
async function rawProducer(r: Receiver): Promise<Socket> {
  const a = r.address as UdsAddress | TcpAddress;
  const s = a.transport === "uds" ? netConnect(a.path) : netConnect(a.port, a.host);
  s.on("error", () => {});
  await once(s, "connect");
  await answerHandshake(s, undefined, "test receiver");
  return s;
}

/** Writes `bytes` in pieces of the given sizes (cycled), one piece per event-loop turn. */
async function writeInPieces(s: Socket, bytes: Buffer, sizes: number[]): Promise<void> {
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length]!;
    s.write(bytes.subarray(at, at + n));
    at += n;
    await turn();
  }
}

/** Every message as the receiver handed it out (views kept, not copied), read only once iteration ends. */
async function collect(r: Receiver): Promise<Array<{ producer: number; bytes: Uint8Array }>> {
  const got: Array<{ producer: number; bytes: Uint8Array }> = [];
  for await (const b of r.batches()) {
    for (let i = 0; i < b.count; i++) got.push({ producer: b.producer, bytes: b.data.subarray(b.offsets[2 * i]!, b.offsets[2 * i]! + b.offsets[2 * i + 1]!) });
  }
  return got;
}

function expectMessages(got: Array<{ bytes: Uint8Array }>, lengths: number[]): void {
  expect(got.map((m) => m.bytes.length)).toEqual(lengths);
  got.forEach((m, i) => expect(Buffer.from(m.bytes).equals(message(i, lengths[i]!))).toBe(true));
}

describe.each<Kind>(["uds", "tcp"])("%s: reads of an accepted connection", (kind) => {
  /** One producer sends `lengths` in pieces of `pieces` bytes; every message arrives whole, nobody is lost. */
  async function deliversWhole(lengths: number[], pieces: number[]): Promise<void> {
    const { r, lost } = await listen(kind, { expectedProducers: 1 });
    const done = collect(r);
    const s = await rawProducer(r);
    await writeInPieces(s, wire(lengths), pieces);
    s.end();
    expectMessages(await done, lengths);
    expect(lost).toEqual([]);
  }

  it("reassembles frames cut at every offset of a header and of a payload, and earlier messages survive later reads", async () => {
    // Piece sizes prime to each other and to the frame sizes: cuts land on every byte of a header, on header ends, inside and between payloads.
    await deliversWhole([0, 1, 3, 4, 5, 300, 2, 0, 17, 64], [1, 2, 3, 5, 7, 11, 4]);
  }, 30_000);

  it("reassembles frames larger than one read, cut at their header, inside it, and at the read buffer's size", async () => {
    await deliversWhole([300 * 1024, 1, (1 << 20) + 3, 64 * 1024, 256 * 1024 - 4, 5], [4, 100_000, 3, 256 * 1024, 64 * 1024 + 1, 2]);
  }, 30_000);

  it("with reuseBatches, frames larger than one read arrive whole, each read before the next batch is asked for, and their memory is reused", async () => {
    const lengths = [300 * 1024, 1, (1 << 20) + 3, 64 * 1024, 256 * 1024 - 4, 5, (1 << 20) + 3, 300 * 1024, (1 << 20) + 3];
    const { r, lost } = await listen(kind, { expectedProducers: 1, reuseBatches: true });
    const seen: number[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const done = (async () => {
      for await (const b of r.batches()) {
        for (let i = 0; i < b.count; i++) {
          const n = seen.length;
          const bytes = Buffer.from(b.data.buffer, b.data.byteOffset + b.offsets[2 * i]!, b.offsets[2 * i + 1]!);
          seen.push(bytes.length);
          expect(bytes.equals(message(n, lengths[n]!)), `message ${n}`).toBe(true);
          if (bytes.length >= 64 * 1024) buffers.add(b.data.buffer);
        }
      }
    })();
    const s = await rawProducer(r);
    await writeInPieces(s, wire(lengths), [4, 100_000, 3, 256 * 1024, 64 * 1024 + 1, 2]);
    s.end();
    await done;
    expect(seen).toEqual(lengths);
    expect(lost).toEqual([]);
    expect(buffers.size).toBeLessThan(lengths.filter((n) => n >= 64 * 1024).length);
  }, 30_000);

  it("a peer that dies inside a frame is EPEERGONE; the partial frame is discarded and what came before is kept", async () => {
    const { r, lost } = await listen(kind, { expectedProducers: 1 });
    const done = collect(r);
    const s = await rawProducer(r);
    const w = wire([10, 200_000, 1000], false);
    // Everything up to 12 bytes into the last frame's payload (its 4-byte header included).
    await writeInPieces(s, w.subarray(0, w.length - 1000 + 12), [4096]);
    s.destroy();
    expectMessages(await done, [10, 200_000]);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.code).toBe("EPEERGONE");
    expect(lost[0]!.message).toContain("partial 16-byte frame");
  }, 30_000);

  it("a frame over the limit is EPROTO for that producer only; another keeps flowing", async () => {
    const { r, lost } = await listen(kind, { expectedProducers: 2, maxMessageSize: 1000 });
    const done = collect(r);
    const bad = await rawProducer(r);
    const good = await rawProducer(r);
    const header = Buffer.alloc(4);
    writeFrameHeader(header, 0, 0x7fff_fff0);
    bad.write(header);
    await turn();
    await writeInPieces(good, wire([1000, 7, 999]), [600]);
    good.end();
    const got = await done;
    expectMessages(got, [1000, 7, 999]);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.code).toBe("EPROTO");
    expect(lost[0]!.message).toContain("over the 1000-byte limit");
    expect(got.every((m) => m.producer === got[0]!.producer)).toBe(true);
  }, 30_000);

  it("a connection keeps its place under maxConnections after the hand-over, and frees it when it closes", async () => {
    const { r } = await listen(kind, { expectedProducers: 2, maxConnections: 1 });
    const done = collect(r);
    const first = await rawProducer(r);
    await writeInPieces(first, wire([3], false), [7]);
    // The first connection holds the only place: a second one is closed at accept.
    await expect(rawProducer(r)).rejects.toMatchObject({ code: "EPEERGONE" });
    first.end(wire([], true));
    await once(first, "close");
    await turn();
    const third = await rawProducer(r);
    third.end(wire([5]));
    const got = await done;
    expect(got.map((m) => m.bytes.length)).toEqual([3, 5]);
  }, 30_000);
});
