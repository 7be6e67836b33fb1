// A Unix-socket producer asks the kernel for a larger send buffer (SO_SNDBUF)
// at connect, unless told not to. Read back from the kernel: every socket
// this process opens while connecting is found through /proc/self/fd.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { Sender } from "@ipc-sampler/core";
import { closeAfterEach, readNumbered, trackProcess } from "@ipc-sampler/core/conformance";
import { socketSendBuffer } from "@ipc-sampler/posix";
import { udsTransport } from "../src/index.js";

const receivers = closeAfterEach();
const senders: Sender[] = [];
afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.close().catch(() => {})));
});
const sender = (s: Sender) => void senders.push(s);
const listen = async (name: string) => {
  const r = await udsTransport.listen({ name: `sndbuf-${process.pid}-${name}` });
  receivers.push(r);
  return r;
};

function socketFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${name}`);
      if (target.startsWith("socket:")) out.set(Number(name), target);
    } catch {
      // closed while listed
    }
  }
  return out;
}

/** SO_SNDBUF of each socket opened by `open` (the sender's and the receiver's end of the new connection). */
async function newSendBuffers(open: () => Promise<unknown>): Promise<number[]> {
  const before = socketFds();
  await open();
  const sizes: number[] = [];
  for (const [fd, target] of socketFds()) if (before.get(fd) !== target) sizes.push(socketSendBuffer(fd));
  return sizes;
}

const sysctl = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, "utf8"));

describe("uds sendBufferBytes", () => {
  it("a producer's socket gets a 1 MiB send buffer by default (the kernel doubles it, capped at wmem_max)", async () => {
    const r = await listen("a");
    const granted = 2 * Math.min(1024 * 1024, sysctl("wmem_max"));
    const sizes = await newSendBuffers(async () => sender(await udsTransport.connect(r.address)));
    expect(sizes.filter((s) => s === granted)).toHaveLength(1);
  });

  it("0 keeps the system default; another size is asked for as given", async () => {
    const r = await listen("b");
    const kept = await newSendBuffers(async () => sender(await udsTransport.connect(r.address, { sendBufferBytes: 0 })));
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.every((s) => s === sysctl("wmem_default"))).toBe(true);
    const asked = await newSendBuffers(async () => sender(await udsTransport.connect(r.address, { sendBufferBytes: 300_000 })));
    expect(asked).toContain(2 * Math.min(300_000, sysctl("wmem_max")));
  });

  it("refuses sizes that are not whole numbers of bytes from 0 to 1 GiB before connecting", async () => {
    const r = await listen("c");
    for (const bad of [-1, 1.5, 2 ** 31, Number.NaN]) {
      await expect(udsTransport.connect(r.address, { sendBufferBytes: bad })).rejects.toThrow(RangeError);
    }
  });
});

describe("uds: messages larger than a write chunk", () => {
  // A producer in a loop hands each 1 MiB message to the kernel; what the
  // kernel does not take at once is copied into a buffer of its own, which
  // is reused once the socket is done with it. With a 2 MiB send buffer and
  // a receiver reading all along, the socket often takes that rest at once:
  // its buffer must come back then, not a tick later, or a producer that
  // never has to wait allocates (and faults in) a fresh MiB per message.
  it("a producer writing 1 MiB messages in a loop reuses a few buffers for what the kernel did not take at once", async () => {
    const r = await listen("big");
    const count = 600;
    const size = 1024 * 1024;
    // Each message is filled with its number: a buffer reused too early would show another's.
    const reading = readNumbered(r.batches(), size);
    const out = await new Promise<string>((resolve, reject) => {
      const src = `
        import * as S from ${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)};
        const slow = Buffer.allocUnsafeSlow;
        let fresh = 0;
        Buffer.allocUnsafeSlow = (n) => (n >= ${size} && fresh++, slow(n));
        const s = await S.udsTransport.connect(${JSON.stringify(r.address)});
        const m = Buffer.alloc(${size});
        for (let i = 0; i < ${count}; i++) {
          m.fill(i % 251);
          if (!s.write(m)) await s.drain();
        }
        await s.close();
        console.log(JSON.stringify({ fresh }));`;
      const child = spawn(process.execPath, ["--input-type=module", "-e", src], { stdio: ["ignore", "pipe", "inherit"] });
      trackProcess(child);
      let text = "";
      child.stdout.on("data", (d) => (text += d));
      child.on("error", reject);
      child.on("close", () => resolve(text.trim()));
    });
    expect(await reading).toEqual({ count, intact: count });
    const { fresh } = JSON.parse(out) as { fresh: number };
    // At most what the socket can hold queued at once (4 messages) and a few more: not one per message.
    expect(fresh).toBeLessThanOrEqual(12);
  });
});
