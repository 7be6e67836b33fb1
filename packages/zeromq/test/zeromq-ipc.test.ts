import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { closingAfterEach, exitOf, killStartedProcesses, trackProcess } from "@ipc-sampler/core/conformance";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ChannelError, type Receiver } from "@ipc-sampler/core";
import type { ZeromqAddress } from "../src/index.js";
import { zeromqTransport } from "../src/index.js";

// list/removeStale take a directory after the prefix (the interface names only the prefix).
const list = zeromqTransport.list as unknown as (prefix?: string, directory?: string) => Promise<string[]>;
// minAgeMs 0: the crashes come right after creation; only the owner's lock decides.
const removeStale = async (_prefix: string | undefined, directory: string) =>
  (await zeromqTransport.named!.removeStale({ directory, minAgeMs: 0 })).filter((e) => e.outcome === "removed").map((e) => e.name);
const DIST = new URL("../dist/index.js", import.meta.url).href;
// Made in beforeAll, not at load: a run that filters every test out (vitest -t) runs no hooks.
let dir = "";
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "ipcs-zmqtest-"));
});

/** A receiver in another process: prints its address, then waits. */
function receiverProcess(): Promise<{ child: ChildProcess; file: string; ackFile: string }> {
  const code = `
    const { zeromqTransport } = await import(${JSON.stringify(DIST)});
    const r = await zeromqTransport.listen({ directory: ${JSON.stringify(dir)} });
    console.log(JSON.stringify(r.address));
    setTimeout(() => {}, 20000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  trackProcess(child);
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  child.on("exit", () => clearTimeout(killer));
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding("utf8").once("data", (line: string) => {
      const a = JSON.parse(line) as ZeromqAddress;
      resolve({ child, file: a.endpoint.slice("ipc://".length), ackFile: a.ackEndpoint!.slice("ipc://".length) });
    });
    child.once("exit", (code) => reject(new Error(`receiver process exited with ${code}`)));
  });
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const exited = exitOf;

describe("zeromq ipc:// endpoint", () => {
  let receiver: Receiver | undefined;
  const closing = closingAfterEach();

  it("is a real Unix socket file, mode 0600, named with the prefix, while open, and gone after close", async () => {
    receiver = closing(await zeromqTransport.listen({ expectedProducers: 1, directory: dir, prefix: "ipcs-t-" }));
    const endpoint = (receiver.address as ZeromqAddress).endpoint;
    expect(endpoint).toMatch(/^ipc:\/\//);
    const file = endpoint.slice("ipc://".length);
    expect(path.dirname(file)).toBe(dir);
    expect(path.basename(file)).toMatch(new RegExp(`^ipcs-t-zmq-${process.pid}-`));
    // The goodbye answers' socket sits beside the data socket.
    const ackFile = (receiver.address as ZeromqAddress).ackEndpoint!.slice("ipc://".length);
    expect(ackFile).toBe(file.replace(/\.zmq$/, ".ack.zmq"));
    for (const f of [file, ackFile]) {
      const st = lstatSync(f);
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
    }
    expect((await list("ipcs-t-", dir)).sort()).toEqual([ackFile, file]);
    await receiver.close();
    expect(existsSync(file)).toBe(false);
    expect(existsSync(ackFile)).toBe(false);
    expect(await list("ipcs-t-", dir)).toEqual([]);
  });

  it("leaves no descriptor behind across channels, beyond libzmq's one-time context", async () => {
    const fds = () => readdirSync("/proc/self/fd").length;
    const cycle = async () => {
      const r = await zeromqTransport.listen({ expectedProducers: 1, directory: dir });
      const s = await zeromqTransport.connect(r.address);
      await s.send(Buffer.from("x"));
      await s.close();
      for await (const _ of r) {
        // drain
      }
      await r.close();
    };
    await cycle();
    await new Promise((r) => setTimeout(r, 100));
    const base = fds();
    for (let i = 0; i < 5; i++) await cycle();
    await new Promise((r) => setTimeout(r, 100));
    expect(fds()).toBeLessThanOrEqual(base);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses to bind over an existing file with EEXIST", async () => {
    receiver = closing(await zeromqTransport.listen({ directory: dir }));
    const endpoint = (receiver.address as ZeromqAddress).endpoint;
    await expect(zeromqTransport.listen({ listen: endpoint })).rejects.toMatchObject({ code: "EEXIST" });
    expect(lstatSync(endpoint.slice("ipc://".length)).isSocket()).toBe(true);
  });

  it("lists a file left by a SIGKILLed receiver and removeStale removes it", async () => {
    const { child, file, ackFile } = await receiverProcess();
    child.kill("SIGKILL");
    await exited(child);
    expect(existsSync(file)).toBe(true);
    expect(await list(undefined, dir)).toContain(file);
    expect((await removeStale(undefined, dir)).sort()).toEqual([ackFile, file]);
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("zeromq producer that starts before its receiver", () => {
  let receiver: Receiver | undefined;
  const closing = closingAfterEach();

  it("fails with ETIMEDOUT within its timeout when no receiver comes", async () => {
    const endpoint = `ipc://${path.join(dir, `ipcs-none-${process.pid}.zmq`)}`;
    const t0 = Date.now();
    const err = await zeromqTransport.connect({ transport: "zeromq", endpoint, maxMessageSize: 100 }, { timeoutMs: 400 }).catch((e: unknown) => e);
    const took = Date.now() - t0;
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).code).toBe("ETIMEDOUT");
    expect(took).toBeGreaterThanOrEqual(350);
    expect(took).toBeLessThan(2000);
  });

  it("fails with ETIMEDOUT over tcp:// when nothing listens on the port", async () => {
    const err = await zeromqTransport.connect({ transport: "zeromq", endpoint: "tcp://127.0.0.1:9", maxMessageSize: 100 }, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "ChannelError", code: "ETIMEDOUT" });
  });

  it("waits for a receiver that binds later, then delivers", async () => {
    const file = path.join(dir, `ipcs-late-${process.pid}.zmq`);
    const endpoint = `ipc://${file}`;
    const connecting = zeromqTransport.connect({ transport: "zeromq", endpoint, maxMessageSize: 1024 }, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    receiver = closing(await zeromqTransport.listen({ listen: endpoint, expectedProducers: 1 }));
    const sender = await connecting;
    await sender.send(Buffer.from("late but here"));
    await sender.close();
    const got: string[] = [];
    for await (const m of receiver) got.push(Buffer.from(m).toString());
    expect(got).toEqual(["late but here"]);
    expect(receiver.producers).toMatchObject({ attached: 1, closed: 1, lost: 0 });
  });
});

describe("zeromq sender when the receiving process dies", () => {
  afterEach(() => {
    killStartedProcesses();
  });

  it("rejects send with EPEERGONE soon after the receiver is SIGKILLed", async () => {
    const { child, file, ackFile } = await receiverProcess();
    const sender = await zeromqTransport.connect({ transport: "zeromq", endpoint: `ipc://${file}`, maxMessageSize: 1024 });
    await sender.send(Buffer.from("before"));
    child.kill("SIGKILL");
    const killedAt = Date.now();
    const err = await Promise.race([
      new Promise((r) => setTimeout(() => r(new Error("send neither failed nor finished within 8 s")), 8000)),
      (async () => {
        try {
          for (let i = 0; i < 1_000_000; i++) {
            await sender.send(Buffer.alloc(64));
            if (i % 256 === 0) await new Promise((r) => setTimeout(r, 1));
            if (Date.now() - killedAt > 8000) return new Error("send never failed");
          }
        } catch (e) {
          return e;
        }
        return new Error("send never failed");
      })(),
    ]);
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).code).toBe("EPEERGONE");
    expect(Date.now() - killedAt).toBeLessThan(2000);
    await expect(sender.close()).rejects.toMatchObject({ code: "EPEERGONE" });
    // The receiver died without removing its socket file.
    await exited(child);
    expect((await removeStale(undefined, dir)).sort()).toEqual([ackFile, file]);
  });
});
