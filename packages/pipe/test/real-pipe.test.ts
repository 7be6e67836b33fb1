import { spawn } from "node:child_process";
import { readlinkSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { Receiver } from "@ipc-sampler/core";
import { pipeTransport } from "../src/index.js";

// The producer process sleeps while the test reads its descriptor table.
const HOLD = "setTimeout(() => {}, 10000)";

describe("pipe transport uses a real pipe(2)", () => {
  let receiver: Receiver | undefined;
  const children: Array<ReturnType<typeof spawn>> = [];
  afterEach(async () => {
    for (const c of children) c.kill("SIGKILL");
    await receiver?.close();
  });

  it("hands the producer a descriptor that /proc reports as pipe:[…], not socket:[…]", async () => {
    receiver = await pipeTransport.listen({ expectedProducers: 1 });
    const admission = await receiver.admit();
    expect(admission.address).toMatchObject({ transport: "pipe", fd: 3 });
    const child = spawn(process.execPath, ["-e", HOLD], { stdio: ["ignore", "ignore", "inherit", ...admission.inherit] });
    children.push(child);
    admission.release();
    await new Promise((r) => child.once("spawn", r));
    const link = readlinkSync(`/proc/${child.pid}/fd/3`);
    expect(link).toMatch(/^pipe:\[\d+\]$/);
    // The receiver's end is the same pipe inode.
    const inode = link.slice("pipe:[".length, -1);
    const mine = (await import("node:fs")).readdirSync("/proc/self/fd").map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return "";
      }
    });
    expect(mine).toContain(`pipe:[${inode}]`);
  });

  it("refuses to attach to a descriptor that is not a pipe", async () => {
    const { openSync, closeSync } = await import("node:fs");
    const fd = openSync("/dev/null", "w");
    try {
      await expect(pipeTransport.connect({ transport: "pipe", fd, maxMessageSize: 10 })).rejects.toMatchObject({ code: "EPROTO" });
    } finally {
      closeSync(fd);
    }
  });
});
