import { describe, expect, it } from "vitest";
import { BatchBuffers, type Lease } from "../src/batch-buffers.js";
import { ChannelError, MAX_PACKET_PRODUCERS, PACKET_FRAGMENT_FIRST, PACKET_FRAGMENT_MORE, PACKET_FRAMES, PACKET_GOODBYE, PACKET_HEADER_BYTES, PACKET_HELLO, PacketReader, PacketReceiver, PacketSender, type Address, type MessageBatch, type PacketSenderOptions } from "../src/index.js";

// The packet protocol without a kernel object: a sender whose "kernel" is an
// array of packets (with room for a set number), and a reader fed those
// packets by hand, its ReceiverCore replaced by a log. Cross-process
// behaviour (SIGKILL, real slot locks) is proven by the FIFO and message-queue
// conformance runs; this pins coalescing, fragments and death settlement.

class MemorySender extends PacketSender {
  readonly packets: Buffer[] = [];
  /** Packets the "kernel" still takes; Infinity: never full. */
  room = Infinity;
  waits = 0;
  releases = 0;
  error: ChannelError | undefined;

  constructor(options: Partial<PacketSenderOptions> = {}) {
    super({ packetBytes: 64, packetsPerChunk: 4, highWaterMark: 1024, maxPooledChunks: 2, lengthInHeader: false, maxMessageSize: 10_000, describe: "test channel", resource: "test", producer: 7, ...options });
    this.hello();
  }
  protected sendPackets(buf: Buffer, pairs: Int32Array, from: number, count: number): number {
    if (this.error) throw this.error;
    const n = Math.min(count, this.room);
    for (let i = from; i < from + n; i++) this.packets.push(Buffer.from(buf.subarray(pairs[2 * i]!, pairs[2 * i]! + pairs[2 * i + 1]!)));
    this.room -= n;
    return n;
  }
  protected startWaiting(): void {
    this.waits++;
  }
  protected stopWaiting(): void {}
  protected releaseResources(): void {
    this.releases++;
  }
  /** The kernel object has room again. */
  makeRoom(n = Infinity): void {
    this.room = n;
    this.resume();
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

type Event = { batch: number[][] } | { closed: number } | { lost: number; error: ChannelError };

function harness(capacity = 4, buffers?: BatchBuffers) {
  const events: Event[] = [];
  const exits = new Map<number, () => void>();
  let attached = 0;
  const core = {
    attach: () => attached++,
    push: (b: MessageBatch) => {
      const messages: number[][] = [];
      for (let i = 0; i < b.count; i++) messages.push(Array.from(b.data.subarray(b.offsets[2 * i]!, b.offsets[2 * i]! + b.offsets[2 * i + 1]!)));
      events.push({ batch: messages });
    },
    producerClosed: (p: number) => events.push({ closed: p }),
    producerLost: (p: number, error: ChannelError) => events.push({ lost: p, error }),
  };
  let pumps = 0;
  const reader = new PacketReader({
    core,
    maxMessageSize: buffers ? 1 << 20 : 10_000,
    noun: "test",
    resource: "/test",
    capacity,
    watchPeer: (n, onGone) => {
      exits.set(n, onGone);
      return { close: () => exits.delete(n) };
    },
    onExit: () => pumps++,
    buffers,
  });
  /** One read: the packets back to back in one buffer, as a transport receives them. */
  const read = (packets: Buffer[]) => {
    const buf = Buffer.concat(packets);
    let at = 0;
    for (const p of packets) {
      reader.packet(buf, at, p[6]!, at + p.length);
      at += p.length;
    }
    reader.read(packets.length);
    reader.flush();
  };
  return { reader, events, exits, read, pumps: () => pumps };
}

function packet(producer: number, stream: number, kind: number, body: number[] = []): Buffer {
  const b = Buffer.alloc(PACKET_HEADER_BYTES + body.length);
  b.writeUInt32LE(producer, 0);
  b.writeUInt16LE(stream, 4);
  b[6] = kind;
  b.set(body, PACKET_HEADER_BYTES);
  return b;
}

const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
const bytes = (n: number, seed = 1) => Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe("PacketSender", () => {
  it("sends HELLO at once, the first message of a turn at once, then coalesces the rest of the turn into full packets", async () => {
    const s = new MemorySender();
    expect(s.packets).toHaveLength(1);
    expect(s.packets[0]![6]).toBe(PACKET_HELLO);
    expect(s.packets[0]!.readUInt32LE(0)).toBe(7); // its producer number, never a pid
    for (let i = 0; i < 10; i++) s.write(Uint8Array.of(i, i, i, i, i, i, i, i)); // 12-byte frames: 4 per 64-byte packet
    expect(s.packets.slice(1).map((p) => [p[6], p.length])).toEqual([[PACKET_FRAMES, 8 + 12]]);
    await turn();
    expect(s.packets.slice(2).map((p) => [p[6], p.length])).toEqual([
      [PACKET_FRAMES, 8 + 4 * 12],
      [PACKET_FRAMES, 8 + 4 * 12],
      [PACKET_FRAMES, 8 + 12],
    ]);
  });

  it("a lone message (a reply) is sent within write(), and so is the first one of the next turn", async () => {
    const s = new MemorySender();
    s.write(Uint8Array.of(1));
    expect(s.packets.map((p) => p[6])).toEqual([PACKET_HELLO, PACKET_FRAMES]);
    await turn();
    s.write(Uint8Array.of(2));
    expect(s.packets.map((p) => p[6])).toEqual([PACKET_HELLO, PACKET_FRAMES, PACKET_FRAMES]);
    expect(s.packets[2]!.subarray(8)).toEqual(Buffer.of(1, 0, 0, 0, 2));
  });

  it("a message written while earlier packets wait for room waits behind them", async () => {
    const s = new MemorySender();
    s.room = 0;
    s.write(Uint8Array.of(1));
    await turn();
    s.write(Uint8Array.of(2));
    expect(s.packets).toHaveLength(1);
    s.makeRoom();
    await turn();
    expect(s.packets.slice(1).map((p) => p.subarray(8))).toEqual([Buffer.of(1, 0, 0, 0, 1), Buffer.of(1, 0, 0, 0, 2)]);
  });

  it("puts the body length under the kind when asked (a byte stream)", async () => {
    const s = new MemorySender({ lengthInHeader: true });
    s.write(Uint8Array.of(1, 2, 3));
    await turn();
    const w = s.packets[1]!.readUInt16LE(6);
    expect(w >>> 12).toBe(PACKET_FRAMES);
    expect(w & 0xfff).toBe(4 + 3);
    expect(s.packets[0]!.readUInt16LE(6)).toBe(PACKET_HELLO << 12);
  });

  it("splits a large message into FRAGMENT_FIRST (stating the total) and FRAGMENT_MORE", async () => {
    const s = new MemorySender();
    s.write(Uint8Array.from(bytes(150)));
    await turn();
    const [first, ...more] = s.packets.slice(1);
    expect(first![6]).toBe(PACKET_FRAGMENT_FIRST);
    expect(first!.readUInt32LE(8)).toBe(150);
    expect(more.every((p) => p[6] === PACKET_FRAGMENT_MORE)).toBe(true);
    expect(first!.length - 12 + more.reduce((n, p) => n + p.length - 8, 0)).toBe(150);
  });

  it("refuses an oversized message with EMSGSIZE and sends nothing", async () => {
    const s = new MemorySender({ maxMessageSize: 10 });
    expect(() => s.write(new Uint8Array(11))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
    await turn();
    expect(s.packets).toHaveLength(1);
  });

  it("waits for room once when the kernel object is full, reports the high-water mark, and drains", async () => {
    const s = new MemorySender({ highWaterMark: 200 });
    s.room = 0;
    let below = true;
    for (let i = 0; i < 40; i++) below = s.write(new Uint8Array(8));
    expect(below).toBe(false);
    let drained = false;
    const d = s.drain().then(() => (drained = true));
    await turn();
    expect(s.waits).toBe(1);
    expect(drained).toBe(false);
    s.makeRoom();
    await d;
    // The first message was offered alone (and found no room), the other 39 share packets.
    expect(s.packets.length).toBe(1 + 1 + 10);
  });

  it("close() sends GOODBYE last and resolves once everything was taken; later writes are ECLOSED", async () => {
    const s = new MemorySender();
    s.room = 0;
    s.write(Uint8Array.of(9));
    let closed = false;
    const c = s.close().then(() => (closed = true));
    await turn();
    expect(closed).toBe(false);
    s.makeRoom();
    await c;
    expect(s.packets.map((p) => p[6])).toEqual([PACKET_HELLO, PACKET_FRAMES, PACKET_GOODBYE]);
    expect(s.closed).toBe(true);
    expect(s.releases).toBe(1);
    expect(() => s.write(Uint8Array.of(1))).toThrow(expect.objectContaining({ code: "ECLOSED" }));
  });

  it("a failing kernel write fails drain, close and later writes with that error, and releases once", async () => {
    const s = new MemorySender({ highWaterMark: 10 });
    s.room = 0;
    s.write(new Uint8Array(20));
    const d = s.drain();
    s.error = new ChannelError("EPEERGONE", "gone");
    s.makeRoom();
    await expect(d).rejects.toMatchObject({ code: "EPEERGONE" });
    expect(() => s.write(Uint8Array.of(1))).toThrow(expect.objectContaining({ code: "EPEERGONE" }));
    await expect(s.close()).rejects.toMatchObject({ code: "EPEERGONE" });
    expect(s.releases).toBe(1);
  });
});

describe("PacketReader", () => {
  it("round-trips what a PacketSender wrote: small, fragmented and small again, in order", async () => {
    const s = new MemorySender();
    const big = bytes(300, 5);
    s.write(Uint8Array.of(1, 2, 3));
    s.write(Uint8Array.from(big));
    s.write(Uint8Array.of(4));
    await s.close();
    const h = harness();
    h.read(s.packets);
    expect(h.events).toEqual([{ batch: [[1, 2, 3]] }, { batch: [big] }, { batch: [[4]] }, { closed: 0 }]);
  });

  it("reassembles a message whose fragments arrive in separate reads, between other producers' messages", () => {
    const h = harness();
    const total = 20;
    const msg = bytes(total);
    h.read([packet(10, 0, PACKET_HELLO), packet(11, 0, PACKET_HELLO)]);
    h.read([packet(10, 0, PACKET_FRAGMENT_FIRST, [...u32(total), ...msg.slice(0, 8)]), packet(11, 0, PACKET_FRAMES, [...u32(1), 42])]);
    h.read([packet(10, 0, PACKET_FRAGMENT_MORE, msg.slice(8, 16))]);
    expect(h.events).toEqual([{ batch: [[42]] }]);
    h.read([packet(10, 0, PACKET_FRAGMENT_MORE, msg.slice(16)), packet(10, 0, PACKET_GOODBYE)]);
    expect(h.events.slice(1)).toEqual([{ batch: [msg] }, { closed: 0 }]);
  });

  it("keeps producers apart by number and stream", () => {
    const h = harness();
    h.read([packet(10, 0, PACKET_HELLO), packet(10, 1, PACKET_HELLO)]);
    h.read([packet(10, 1, PACKET_FRAMES, [...u32(1), 7]), packet(10, 0, PACKET_FRAMES, [...u32(1), 8]), packet(10, 1, PACKET_GOODBYE)]);
    expect(h.events).toEqual([{ batch: [[7]] }, { closed: 1 }, { batch: [[8]] }]);
  });

  it("a GOODBYE inside a fragmented message is EPROTO, and the partial message is never delivered", () => {
    const h = harness();
    h.read([packet(10, 0, PACKET_HELLO), packet(10, 0, PACKET_FRAGMENT_FIRST, [...u32(100), 1, 2, 3]), packet(10, 0, PACKET_GOODBYE)]);
    expect(h.events).toHaveLength(1);
    expect(h.events[0]).toMatchObject({ lost: 0, error: { code: "EPROTO" } });
    expect((h.events[0] as { error: Error }).error.message).toBe("test producer 0 (number 10) sent a goodbye inside a message on /test");
  });

  it("a stray FRAGMENT_MORE, more fragment bytes than announced, or a torn frame is EPROTO", () => {
    for (const bad of [
      packet(10, 0, PACKET_FRAGMENT_MORE, [1]),
      packet(10, 0, PACKET_FRAGMENT_FIRST, [...u32(2), 1, 2, 3]),
      packet(10, 0, PACKET_FRAMES, [...u32(5), 1]),
      packet(10, 0, PACKET_FRAMES, [...u32(20_000)]),
    ]) {
      const h = harness();
      h.read([packet(10, 0, PACKET_HELLO), packet(10, 0, PACKET_FRAMES, [...u32(1), 9]), bad, packet(10, 0, PACKET_FRAMES, [...u32(1), 8])]);
      // Messages before the bad packet are delivered; the producer is gone after it.
      expect(h.events).toEqual([{ batch: [[9]] }, { lost: 0, error: expect.objectContaining({ code: "EPROTO" }) }]);
    }
  });

  it("with reuseBatches, the pooled buffer of a partial message goes back however its producer ends (EPROTO, GOODBYE inside it, death)", () => {
    class CountingBuffers extends BatchBuffers {
      leased = 0;
      given = 0;
      override lease(bytes: number): Lease {
        this.leased++;
        return super.lease(bytes);
      }
      override drop(lease: Lease): void {
        if (lease.holders === 1) this.given++;
        super.drop(lease);
      }
    }
    const start = (n: number) => packet(n, 0, PACKET_FRAGMENT_FIRST, [...u32(100_000), 1, 2, 3]);
    const endings: Array<[string, (h: ReturnType<typeof harness>, n: number) => void]> = [
      ["a second FRAGMENT_FIRST", (h, n) => h.read([start(n)])],
      ["more bytes than announced", (h, n) => h.read([packet(n, 0, PACKET_FRAGMENT_MORE, new Array(3000).fill(7)), ...new Array(40).fill(packet(n, 0, PACKET_FRAGMENT_MORE, new Array(3000).fill(7)))])],
      ["a GOODBYE inside it", (h, n) => h.read([packet(n, 0, PACKET_GOODBYE)])],
      ["its process died", (h, n) => {
        h.exits.get(n)!();
        h.reader.empty();
        h.reader.settle();
      }],
    ];
    for (const [what, end] of endings) {
      const buffers = new CountingBuffers();
      const h = harness(4, buffers);
      h.read([packet(10, 0, PACKET_HELLO), start(10)]);
      end(h, 10);
      expect(h.events, what).toHaveLength(1);
      expect(h.events[0], what).toMatchObject({ lost: 0 });
      expect([buffers.leased, buffers.given], what).toEqual([1, 1]);
    }
  });

  it("a pooled buffer that comes back under a new lease is held by that lease, even when no packet was read from the buffer in between", () => {
    // A queue read that held only packets of no one's (dropped before they
    // reach the reader) leaves the reader pointing at the buffer before: when
    // the pool hands that buffer out again, its batches must hold the new lease.
    const buffers = new BatchBuffers();
    const events: MessageBatch[] = [];
    const reader = new PacketReader({
      core: { attach: () => 0, push: (b: MessageBatch) => events.push(b), producerClosed: () => {}, producerLost: () => {} },
      maxMessageSize: 1 << 20,
      noun: "test",
      resource: "/test",
      capacity: 4,
      watchPeer: () => ({ close: () => {} }),
      onExit: () => {},
      buffers,
    });
    const first = buffers.lease(64 * 1024);
    const hello = packet(10, 0, PACKET_HELLO);
    const frames = packet(10, 0, PACKET_FRAMES, [...u32(1), 5]);
    const put = (lease: Lease) => {
      hello.copy(lease.buffer, 0);
      frames.copy(lease.buffer, hello.length);
    };
    put(first);
    reader.packet(first.buffer, 0, PACKET_HELLO, hello.length, first);
    reader.packet(first.buffer, hello.length, PACKET_FRAMES, hello.length + frames.length, first);
    reader.flush();
    // The transport moves on and drops its hold; the batch gives the buffer back.
    buffers.drop(first);
    buffers.release(events[0]!);
    const again = buffers.lease(64 * 1024);
    expect(again.buffer).toBe(first.buffer);
    reader.packet(again.buffer, hello.length, PACKET_FRAMES, hello.length + frames.length, again);
    reader.flush();
    expect(events).toHaveLength(2);
    expect((events[1] as MessageBatch & { lease?: Lease }).lease).toBe(again);
    expect(again.holders).toBe(2);
  });

  it("a HELLO with a producer number outside 1..MAX_PACKET_PRODUCERS is EPROTO and is never watched", () => {
    const h = harness();
    h.read([packet(0, 0, PACKET_HELLO), packet(MAX_PACKET_PRODUCERS + 1, 0, PACKET_HELLO), packet(MAX_PACKET_PRODUCERS, 0, PACKET_HELLO)]);
    expect(h.events.map((e) => ("error" in e ? e.error.code : e))).toEqual(["EPROTO", "EPROTO"]);
    expect([...h.exits.keys()]).toEqual([MAX_PACKET_PRODUCERS]);
  });

  it("a second HELLO on a known number and stream (its slot lock was dropped and taken again) loses the earlier producer, then attaches the new one", () => {
    const h = harness();
    h.read([packet(10, 0, PACKET_HELLO), packet(10, 0, PACKET_FRAMES, [...u32(1), 1])]);
    h.read([packet(10, 0, PACKET_HELLO), packet(10, 0, PACKET_FRAMES, [...u32(1), 2]), packet(10, 0, PACKET_GOODBYE)]);
    expect(h.events.map((e) => ("error" in e ? e.error.code : e))).toEqual([{ batch: [[1]] }, "EPEERGONE", { batch: [[2]] }, { closed: 1 }]);
  });

  it("drops packets of producers that never said HELLO or already said GOODBYE", () => {
    const h = harness();
    h.read([packet(10, 0, PACKET_FRAMES, [...u32(1), 1]), packet(11, 0, PACKET_HELLO), packet(11, 0, PACKET_GOODBYE), packet(11, 0, PACKET_FRAMES, [...u32(1), 2])]);
    expect(h.events).toEqual([{ closed: 0 }]);
  });

  it("reports a dead producer only once the object was found empty after its death, discarding its partial message", () => {
    const h = harness();
    h.read([packet(10, 0, PACKET_HELLO), packet(10, 0, PACKET_FRAGMENT_FIRST, [...u32(50), 1, 2])]);
    h.reader.empty(); // an empty read before the death does not count
    h.exits.get(10)!();
    expect(h.pumps()).toBe(1);
    expect(h.exits.has(10)).toBe(true); // the reader keeps its registry entry until settled
    h.reader.settle();
    expect(h.events).toEqual([]);
    // What it wrote before dying is still delivered.
    h.read([packet(10, 0, PACKET_FRAMES, [...u32(1), 5])]);
    h.reader.settle();
    expect(h.events).toEqual([{ batch: [[5]] }]);
    h.reader.empty();
    h.reader.settle();
    expect(h.events).toHaveLength(2);
    expect(h.events[1]).toMatchObject({ lost: 0, error: { code: "EPEERGONE", producer: 0, resource: "/test" } });
    expect((h.events[1] as { error: Error }).error.message).toBe("test producer 0 (number 10) on /test went away without closing (a partial 2-of-50-byte message was discarded)");
    // Nothing more comes from it, and it is reported once.
    h.read([packet(10, 0, PACKET_FRAMES, [...u32(1), 6])]);
    h.reader.empty();
    h.reader.settle();
    expect(h.events).toHaveLength(2);
  });

  it("hands out what it collected from one buffer before it parses packets in another", () => {
    const h = harness();
    h.read([packet(10, 0, PACKET_HELLO)]);
    const a = packet(10, 0, PACKET_FRAMES, [...u32(1), 1]);
    const b = packet(10, 0, PACKET_FRAMES, [...u32(1), 2]);
    h.reader.packet(a, 0, PACKET_FRAMES, a.length);
    h.reader.packet(b, 0, PACKET_FRAMES, b.length);
    h.reader.flush();
    expect(h.events).toEqual([{ batch: [[1]] }, { batch: [[2]] }]);
  });

  it("reports a dead producer once a whole capacity was read since its death, even if never empty", () => {
    const h = harness(3);
    h.read([packet(10, 0, PACKET_HELLO), packet(11, 0, PACKET_HELLO)]);
    h.exits.get(10)!();
    h.read([packet(10, 0, PACKET_FRAMES, [...u32(1), 1]), packet(11, 0, PACKET_FRAMES, [...u32(1), 2])]);
    h.reader.settle();
    expect(h.events).toEqual([{ batch: [[1]] }, { batch: [[2]] }]);
    h.read([packet(11, 0, PACKET_FRAMES, [...u32(1), 3])]);
    h.reader.settle();
    expect(h.events.slice(2)).toEqual([{ batch: [[3]] }, { lost: 0, error: expect.objectContaining({ code: "EPEERGONE" }) }]);
  });

  it("a producer that said GOODBYE before its process exited is closed, not lost", () => {
    const h = harness();
    h.read([packet(10, 0, PACKET_HELLO)]);
    const exit = h.exits.get(10)!;
    h.read([packet(10, 0, PACKET_GOODBYE)]);
    expect(h.exits.has(10)).toBe(false); // its watch was closed
    exit();
    h.reader.empty();
    h.reader.settle();
    expect(h.events).toEqual([{ closed: 0 }]);
    expect(h.pumps()).toBe(0);
  });

  it("failAll hands out what was collected, then loses every producer with the error", () => {
    const h = harness();
    h.read([packet(10, 0, PACKET_HELLO), packet(11, 0, PACKET_HELLO)]);
    const buf = packet(10, 0, PACKET_FRAMES, [...u32(1), 4]);
    h.reader.packet(buf, 0, PACKET_FRAMES, buf.length);
    const broken = new ChannelError("EPROTO", "broken");
    h.reader.failAll(broken);
    expect(h.events).toEqual([{ batch: [[4]] }, { lost: 0, error: broken }, { lost: 1, error: broken }]);
    expect(h.exits.size).toBe(0);
  });
});

/** A receiver whose kernel object is a list of reads, each a list of packets. */
class MemoryReceiver extends PacketReceiver {
  readonly reads: Buffer[][] = [];
  readonly watching: boolean[] = [];
  attempts = 0;
  releases = 0;
  readonly exits = new Map<number, () => void>();

  constructor(options: { onPeerLost?: (e: ChannelError) => void } = {}) {
    const address: Address = { transport: "memory", maxMessageSize: 1000 };
    super(address, {
      expectedProducers: 1,
      onPeerLost: options.onPeerLost,
      noun: "memory",
      describe: "memory channel",
      resource: "mem",
      capacity: 100,
      watchPeer: (n, onGone) => {
        this.exits.set(n, onGone);
        return { close: () => this.exits.delete(n) };
      },
    });
  }
  protected watch(on: boolean): void {
    this.watching.push(on);
  }
  protected readSome(): boolean {
    this.attempts++;
    const packets = this.reads.shift();
    if (!packets) {
      this.reader.empty();
      return false;
    }
    const buf = Buffer.concat(packets);
    let at = 0;
    for (const p of packets) {
      this.reader.packet(buf, at, p[6]!, at + p.length);
      at += p.length;
    }
    this.reader.read(packets.length);
    this.reader.flush();
    return true;
  }
  protected release(): void {
    this.releases++;
  }
  /** The kernel object polls readable. */
  readable(): void {
    this.pump();
  }
  fail(error: ChannelError): void {
    this.breakAll(error);
  }
}

describe("PacketReceiver", () => {
  it("reads at most four times per readiness callback, then settles a dead producer once the object is empty", async () => {
    const lost: ChannelError[] = [];
    const r = new MemoryReceiver({ onPeerLost: (e) => lost.push(e) });
    r.reads.push([packet(10, 0, PACKET_HELLO)]);
    for (let i = 0; i < 5; i++) r.reads.push([packet(10, 0, PACKET_FRAMES, [...u32(1), i])]);
    r.readable();
    expect(r.attempts).toBe(4);
    r.exits.get(10)!(); // pumps: the last read, then the object is empty
    expect(r.attempts).toBe(7);
    const got: number[] = [];
    for await (const m of r) got.push(m[0]!);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(lost.map((e) => e.code)).toEqual(["EPEERGONE"]);
    expect(r.producers).toEqual({ attached: 1, closed: 0, lost: 1 });
  });

  it("stops watching while the consumer lags and reads again once it has caught up", async () => {
    const r = new MemoryReceiver();
    r.reads.push([packet(10, 0, PACKET_HELLO)]);
    for (let i = 0; i < 100; i++) r.reads.push([packet(10, 0, PACKET_FRAMES, [...u32(1), i])]);
    for (let i = 0; i < 40; i++) r.readable();
    expect(r.watching).toEqual([false]);
    const stoppedAt = r.attempts;
    r.readable(); // a late readiness callback does not read while paused
    expect(r.attempts).toBe(stoppedAt);
    const it = r.batches();
    for (let i = 0; i < 60; i++) await it.next();
    expect(r.watching).toEqual([false, true]);
    expect(r.attempts).toBeGreaterThan(stoppedAt);
    await r.close();
    expect(r.releases).toBe(1);
    await expect(r.admit()).rejects.toMatchObject({ code: "ECLOSED", message: "cannot admit a producer: the receiver of memory channel is closed" });
  });

  it("breakAll stops watching, loses every producer with the error once, and ends iteration with it after what was queued", async () => {
    const lost: ChannelError[] = [];
    const r = new MemoryReceiver({ onPeerLost: (e) => lost.push(e) });
    r.reads.push([packet(10, 0, PACKET_HELLO), packet(10, 0, PACKET_FRAMES, [...u32(1), 1])]);
    r.readable();
    const broken = new ChannelError("EPROTO", "broken");
    r.fail(broken);
    r.fail(new ChannelError("EPROTO", "again"));
    r.reads.push([packet(10, 0, PACKET_FRAMES, [...u32(1), 2])]);
    r.readable();
    const got: number[] = [];
    // A broken channel never looks like a quiet one: iteration ends with its error, handler or not.
    await expect(
      (async () => {
        for await (const m of r) got.push(m[0]!);
      })(),
    ).rejects.toBe(broken);
    expect(got).toEqual([1]);
    expect(lost).toEqual([broken]);
    expect(r.watching).toEqual([false]);
  });
});
