// ZeroMQ over tcp: who may attach. A secret turns on CURVE with the
// receiver's keys derived from it; a non-loopback bind without one is refused.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeAfterEach, trackProcess } from "@ipc-sampler/core/conformance";
import { describe, expect, it } from "vitest";
import { zeromqTransport } from "../src/index.js";
import { serverKeys, z85 } from "../src/curve.js";

const DIST = new URL("../dist/index.js", import.meta.url).href;
const receivers = closeAfterEach();

/** A producer process: sends `n` messages and closes; prints "sent" or the error code. */
function producer(address: unknown, n: number, secret?: string): Promise<string> {
  const src = `const { zeromqTransport } = await import(${JSON.stringify(DIST)});
    try {
      const s = await zeromqTransport.connect(${JSON.stringify(address)}, { timeoutMs: 1500${secret === undefined ? "" : `, secret: ${JSON.stringify(secret)}`} });
      for (let i = 0; i < ${n}; i++) await s.send(new Uint8Array([i]));
      await s.close();
      console.log("sent");
    } catch (e) { console.log(e.code ?? e.message); }`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", src], { stdio: ["ignore", "pipe", "inherit"] });
  trackProcess(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  setTimeout(() => child.kill("SIGKILL"), 20_000).unref();
  return new Promise((resolve) => child.on("close", () => resolve(out.trim())));
}

describe("zeromq tcp: who may attach", () => {
  it("z85 matches ZeroMQ's reference vector, and the derived keys are stable per secret", () => {
    // RFC 32 test vector.
    expect(z85(Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]))).toBe("HelloWorld");
    expect(serverKeys("a secret of 16 bytes+")).toEqual(serverKeys("a secret of 16 bytes+"));
    expect(serverKeys("a secret of 16 bytes+").publicKey).not.toBe(serverKeys("another secret, 16+").publicKey);
  });

  it("binding a non-loopback host without a secret is refused with EACCES", async () => {
    await expect(zeromqTransport.listen({ listen: "tcp://0.0.0.0:0" })).rejects.toMatchObject({ code: "EACCES", message: expect.stringMatching(/pass a secret/) });
    await expect(zeromqTransport.listen({ listen: "tcp://*:0" })).rejects.toMatchObject({ code: "EACCES" });
  });

  it("with a secret: the right one flows (CURVE), a wrong or missing one never attaches", async () => {
    const secret = randomBytes(24).toString("hex");
    const r = await zeromqTransport.listen({ listen: "tcp", secret, expectedProducers: 1 });
    receivers.push(r);
    expect(r.address).toMatchObject({ curve: true });
    expect(await producer(r.address, 2)).toBe("EACCES");
    expect(await producer(r.address, 2, "x".repeat(32))).toBe("ETIMEDOUT");
    let count = 0;
    const [mine] = await Promise.all([
      producer(r.address, 5, secret),
      (async () => {
        for await (const b of r.batches()) count += b.count;
      })(),
    ]);
    expect(mine).toBe("sent");
    expect(count).toBe(5);
    expect(r.producers).toMatchObject({ attached: 1, closed: 1, lost: 0 });
  }, 30_000);
});
