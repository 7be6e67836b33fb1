import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { Receiver } from "@ipc-sampler/core";
import { pipeTransport } from "../src/index.js";

const ECHO = fileURLToPath(new URL("./fixtures/echo.mjs", import.meta.url));

describe("pipe toward a child", () => {
  const children: ChildProcess[] = [];
  const receivers: Receiver[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill("SIGKILL");
    for (const r of receivers.splice(0)) await r.close();
  });

  it("carries requests to a child that answers on a pipe back, then ends the child's stream on close", async () => {
    const back = await pipeTransport.listen({ expectedProducers: 1 });
    receivers.push(back);
    const fromChild = await back.admit();
    // The child inherits the write end back as fd 3 and the read end toward it as fd 4.
    const toChild = await pipeTransport.openToChild({ childFd: 4 });
    const child = spawn(process.execPath, [ECHO, JSON.stringify(toChild.admission.address), JSON.stringify(fromChild.address)], {
      stdio: ["ignore", "inherit", "inherit", ...fromChild.inherit, ...toChild.admission.inherit],
    });
    children.push(child);
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    fromChild.release();
    toChild.admission.release();
    const answers = back.batches();
    const request = new Uint8Array(100);
    for (let i = 0; i < 200; i++) {
      request.fill(i & 0xff);
      toChild.sender.write(request);
      const r = await answers.next();
      expect(r.done).toBe(false);
      const b = r.value!;
      expect(b.count).toBe(1);
      expect(b.offsets[1]).toBe(100);
      expect(b.data[b.offsets[0]! + 99]).toBe(i & 0xff);
    }
    await toChild.sender.close();
    // The child's receiver ends, it closes its sender, and our iteration ends.
    expect((await answers.next()).done).toBe(true);
    const code = await new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once("exit", r)));
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(back.producers).toMatchObject({ closed: 1, lost: 0 });
  });

  it("refuses an address of the other direction, either way", async () => {
    await expect(pipeTransport.receiveFromParent({ transport: "pipe", fd: 3, maxMessageSize: 10 })).rejects.toThrow(TypeError);
    const toChild = await pipeTransport.openToChild();
    try {
      await expect(pipeTransport.connect(toChild.admission.address)).rejects.toThrow(TypeError);
    } finally {
      toChild.admission.release();
      await toChild.sender.close().catch(() => {});
    }
  });
});
