import { spawn } from "node:child_process";
import { closingAfterEach } from "@ipc-sampler/core/conformance";
import { afterEach, describe, expect, it } from "vitest";
import { Push } from "zeromq";
import { ChannelError, type Receiver } from "@ipc-sampler/core";
import type { ZeromqAddress } from "../src/index.js";
import { zeromqTransport } from "../src/index.js";

// The wire format (see src/zeromq.ts): a 20-byte header, then frames.
function header(kind: number, pid: number, session: number, seq: number, count: number, body = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20 + body.length);
  b[0] = 0x5a;
  b[1] = 1;
  b[2] = kind;
  b.writeUInt32LE(pid, 4);
  b.writeUInt32LE(session, 8);
  b.writeUInt32LE(seq, 12);
  b.writeUInt32LE(count, 16);
  body.copy(b, 20);
  return b;
}
const frame = (text: string) => {
  const t = Buffer.from(text);
  const f = Buffer.alloc(4 + t.length);
  f.writeUInt32LE(t.length, 0);
  t.copy(f, 4);
  return f;
};
const HELLO = 1;
const DATA = 2;

/** A raw PUSH socket speaking the wire format, as a producer on another machine would. */
async function rawProducer(endpoint: string): Promise<Push> {
  const push = new Push({ linger: 2000 });
  const shaken = new Promise((r) => push.events.on("handshake", r));
  push.connect(endpoint);
  await shaken;
  return push;
}

describe("zeromq receiver: producers that go away or lie", () => {
  let receiver: Receiver | undefined;
  const closing = closingAfterEach();
  const sockets: Push[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  it("reports a remote producer whose connection dropped without a goodbye, after the grace period, keeping what it sent", async () => {
    const lost: Array<{ error: ChannelError; at: number }> = [];
    receiver = closing(await zeromqTransport.listen({ listen: "tcp", expectedProducers: 1, onPeerLost: (error) => lost.push({ error, at: Date.now() }) }));
    const endpoint = (receiver.address as ZeromqAddress).endpoint;
    const push = await rawProducer(endpoint);
    sockets.push(push);
    // A live pid, but another host: only silence can tell it is gone.
    await push.send(header(HELLO, process.pid, 7, 0, 0, Buffer.from(JSON.stringify({ host: "elsewhere.invalid", pid: process.pid }))));
    await push.send(header(DATA, process.pid, 7, 1, 2, Buffer.concat([frame("one"), frame("two")])));
    const got: string[] = [];
    const receiving = (async () => {
      for await (const m of receiver!) got.push(Buffer.from(m).toString());
    })();
    await new Promise((r) => setTimeout(r, 200));
    const droppedAt = Date.now();
    push.close();
    await receiving;
    expect(got).toEqual(["one", "two"]);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.error.code).toBe("EPEERGONE");
    const took = lost[0]!.at - droppedAt;
    expect(took).toBeGreaterThan(1000);
    expect(took).toBeLessThan(10_000);
    expect(receiver.producers).toMatchObject({ attached: 1, lost: 1, closed: 0 });
  });

  it.each(["ipc", "tcp"] as const)("reports a producer killed the moment connect() resolved, before any batch left it (%s)", async (listen) => {
    // connect() resolves only once the receiver has registered the producer, so
    // it is known even though its HELLO and data die inside the killed process.
    const lost: ChannelError[] = [];
    receiver = closing(await zeromqTransport.listen({ listen, expectedProducers: 1, onPeerLost: (e) => lost.push(e) }));
    const dist = new URL("../dist/index.js", import.meta.url).href;
    const src = `const { zeromqTransport } = await import(${JSON.stringify(dist)});
      const s = await zeromqTransport.connect(JSON.parse(process.argv[1]));
      s.write(new Uint8Array(64));
      process.kill(process.pid, "SIGKILL");`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", src, JSON.stringify(receiver.address)], { stdio: "inherit" });
    const exited = new Promise((r) => child.on("exit", (_code, signal) => r(signal)));
    let received = 0;
    const ended = (async () => {
      for await (const _ of receiver!) received++;
    })();
    expect(await exited).toBe("SIGKILL");
    const finished = await Promise.race([ended.then(() => "ended"), new Promise((r) => setTimeout(() => r("still waiting"), 8000))]);
    expect(finished).toBe("ended");
    expect(lost).toHaveLength(1);
    expect(lost[0]!.code).toBe("EPEERGONE");
    expect(received).toBe(0);
  });

  it("tells a dropped remote producer from an idle one that still heartbeats", async () => {
    const lost: ChannelError[] = [];
    receiver = closing(await zeromqTransport.listen({ listen: "tcp", expectedProducers: 2, onPeerLost: (e) => lost.push(e) }));
    const endpoint = (receiver.address as ZeromqAddress).endpoint;
    // The idle one attaches first, so it is the one heard from longest ago, but for its heartbeats.
    const idle = await zeromqTransport.connect(receiver.address);
    await new Promise((r) => setTimeout(r, 50));
    const push = await rawProducer(endpoint);
    sockets.push(push);
    await push.send(header(HELLO, process.pid, 11, 0, 0, Buffer.from(JSON.stringify({ host: "elsewhere.invalid", pid: process.pid }))));
    const got: string[] = [];
    const receiving = (async () => {
      for await (const m of receiver!) got.push(Buffer.from(m).toString());
    })();
    await new Promise((r) => setTimeout(r, 100));
    push.close();
    // Well past the grace period, with the idle producer sending nothing but heartbeats.
    await new Promise((r) => setTimeout(r, 5000));
    expect(lost).toHaveLength(1);
    expect(lost[0]!.message).toMatch(/producer 1 /);
    expect(receiver.producers).toMatchObject({ attached: 2, lost: 1, closed: 0 });
    await idle.send(Buffer.from("still here"));
    await idle.close();
    await receiving;
    expect(got).toEqual(["still here"]);
    expect(receiver.producers).toMatchObject({ attached: 2, lost: 1, closed: 1 });
  }, 15_000);

  it("reports a gap in a producer's batch sequence as EPROTO and delivers nothing after it", async () => {
    receiver = closing(await zeromqTransport.listen({ expectedProducers: 1 }));
    const push = await rawProducer((receiver.address as ZeromqAddress).endpoint);
    sockets.push(push);
    await push.send(header(HELLO, process.pid, 9, 0, 0, Buffer.from(JSON.stringify({ host: "x", pid: process.pid }))));
    await push.send(header(DATA, process.pid, 9, 1, 1, frame("kept")));
    await push.send(header(DATA, process.pid, 9, 3, 1, frame("after a gap")));
    await push.send(header(DATA, process.pid, 9, 4, 1, frame("later")));
    const got: string[] = [];
    const err = await (async () => {
      try {
        for await (const m of receiver!) got.push(Buffer.from(m).toString());
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(got).toEqual(["kept"]);
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).code).toBe("EPROTO");
  });

  it("reports a frame over the receiver's limit as EPROTO", async () => {
    receiver = closing(await zeromqTransport.listen({ expectedProducers: 1, maxMessageSize: 4 }));
    const push = await rawProducer((receiver.address as ZeromqAddress).endpoint);
    sockets.push(push);
    await push.send(header(HELLO, process.pid, 3, 0, 0, Buffer.from("{}")));
    await push.send(header(DATA, process.pid, 3, 1, 1, frame("too long")));
    await expect((async () => {
      for await (const _ of receiver!) {
        // nothing is delivered
      }
    })()).rejects.toMatchObject({ code: "EPROTO" });
  });

  it("HELLOs past the producer limit are lost with ELIMIT; the registry stays bounded", async () => {
    const lost: ChannelError[] = [];
    receiver = closing(await zeromqTransport.listen({ expectedProducers: 1100, onPeerLost: (e) => lost.push(e) }));
    const push = await rawProducer((receiver.address as ZeromqAddress).endpoint);
    sockets.push(push);
    for (let session = 0; session < 1100; session++) await push.send(header(HELLO, process.pid, session, 0, 0, Buffer.from("{}")));
    const r = receiver;
    void (async () => {
      for await (const _ of r) {
        // nothing is delivered
      }
    })();
    for (let i = 0; i < 300 && lost.length < 1100 - 1024; i++) await new Promise((res) => setTimeout(res, 10));
    expect(lost.filter((e) => e.code === "ELIMIT")).toHaveLength(1100 - 1024);
    expect(r.producers.attached).toBe(1100);
  });

  for (const count of [0xffffffff, 2 ** 28, 3]) {
    it(`a DATA batch claiming ${count} messages in the bytes of one is EPROTO for that producer, checked before any allocation`, async () => {
      const lost: ChannelError[] = [];
      receiver = closing(await zeromqTransport.listen({ expectedProducers: 1, onPeerLost: (e) => lost.push(e) }));
      const push = await rawProducer((receiver.address as ZeromqAddress).endpoint);
      sockets.push(push);
      await push.send(header(HELLO, process.pid, 5, 0, 0, Buffer.from("{}")));
      await push.send(header(DATA, process.pid, 5, 1, count, frame("one")));
      for await (const _ of receiver) {
        // nothing is delivered
      }
      expect(lost.map((e) => e.code)).toEqual(["EPROTO"]);
    });
  }
});

describe("zeromq sender: backpressure", () => {
  let receiver: Receiver | undefined;
  const closing = closingAfterEach();

  it("write() returns false and drain() stays pending while the receiver does not read, then resolves once it does; nothing is lost", async () => {
    receiver = closing(await zeromqTransport.listen({ expectedProducers: 1, rcvHwm: 1 }));
    const sender = await zeromqTransport.connect(receiver.address, { sndHwm: 1, highWaterMark: 256 * 1024 });
    const msg = Buffer.alloc(8 * 1024, 1);
    let written = 0;
    let falses = 0;
    let draining: Promise<boolean> | undefined;
    // Keep writing, waiting for drain() when told to, until a drain does not come.
    while (written < 8_000) {
      msg.writeUInt32LE(written, 0);
      written++;
      if (!sender.write(msg)) {
        falses++;
        const d = sender.drain().then(() => true);
        const ok = await Promise.race([d, new Promise<false>((r) => setTimeout(() => r(false), 300))]);
        if (!ok) {
          draining = d;
          break;
        }
      }
    }
    expect(falses).toBeGreaterThan(0);
    // Held back: the receiver buffers a bounded amount, then pushes back.
    expect(draining).toBeDefined();
    expect(written).toBeLessThan(8_000);
    let n = 0;
    let inOrder = true;
    const receiving = (async () => {
      for await (const m of receiver!) {
        if (Buffer.from(m.buffer, m.byteOffset, m.length).readUInt32LE(0) !== n) inOrder = false;
        n++;
      }
    })();
    expect(await draining).toBe(true);
    await sender.close();
    await receiving;
    expect(n).toBe(written);
    expect(inOrder).toBe(true);
  });

  it("rejects writes after close with ECLOSED, and a message over the limit with EMSGSIZE", async () => {
    receiver = closing(await zeromqTransport.listen({ expectedProducers: 1, maxMessageSize: 10 }));
    const sender = await zeromqTransport.connect(receiver.address);
    expect(() => sender.write(new Uint8Array(11))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
    expect(sender.write(new Uint8Array(10))).toBe(true);
    await sender.close();
    expect(sender.closed).toBe(true);
    expect(() => sender.write(new Uint8Array(1))).toThrow(expect.objectContaining({ code: "ECLOSED" }));
    const sizes: number[] = [];
    for await (const m of receiver) sizes.push(m.length);
    expect(sizes).toEqual([10]);
  });
});
