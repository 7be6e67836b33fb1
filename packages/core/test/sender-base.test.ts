// The Sender skeleton every transport extends, over a data path held in
// memory: the failure and closing rules each transport used to write itself.
import { describe, expect, it } from "vitest";
import { ChannelError, SenderBase } from "../src/index.js";

/** Queues bytes; `take(n)` frees n of them, as a kernel object would drain. */
class MemorySender extends SenderBase {
  queued = 0;
  releases = 0;
  finishing: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  constructor(private readonly highWater = 8) {
    super({ maxMessageSize: 16, target: "memory channel" });
  }
  write(message: Uint8Array): boolean {
    this.admit(message.length);
    this.queued += message.length;
    return this.belowHighWater();
  }
  take(n: number): void {
    this.queued -= n;
    this.wake();
  }
  breakWith(err: ChannelError): void {
    this.fail(err);
  }
  protected override belowHighWater(): boolean {
    return this.queued <= this.highWater;
  }
  protected finish(): Promise<void> {
    return this.whenIdle(() => this.queued === 0);
  }
  protected override release(): void {
    this.releases++;
  }
}

const gone = () => new ChannelError("EPEERGONE", "cannot send to memory channel: the receiver went away");

describe("SenderBase", () => {
  it("write() past the high-water mark returns false but keeps the message; drain() resolves once there is room", async () => {
    const s = new MemorySender();
    expect(s.write(new Uint8Array(8))).toBe(true);
    expect(s.write(new Uint8Array(4))).toBe(false);
    expect(s.queued).toBe(12);
    let drained = false;
    const d = s.drain().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    s.take(6);
    await d;
    expect(drained).toBe(true);
  });

  it("a message over the limit throws EMSGSIZE and queues nothing", () => {
    const s = new MemorySender();
    expect(() => s.write(new Uint8Array(17))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
    expect(s.queued).toBe(0);
  });

  it("a failure rejects the pending drain() and close(), and every later call, with the same error; release runs once", async () => {
    const s = new MemorySender();
    s.write(new Uint8Array(12));
    const d = s.drain();
    const c = s.close();
    const err = gone();
    s.breakWith(err);
    await expect(d).rejects.toBe(err);
    await expect(c).rejects.toBe(err);
    expect(() => s.write(new Uint8Array(1))).toThrow(err);
    await expect(s.drain()).rejects.toBe(err);
    await expect(s.send(new Uint8Array(1))).rejects.toBe(err);
    expect(s.closed).toBe(true);
    expect(s.releases).toBe(1);
  });

  it("close() waits for the queue to empty, then releases once; writes after it throw ECLOSED", async () => {
    const s = new MemorySender();
    s.write(new Uint8Array(4));
    const c = s.close();
    expect(() => s.write(new Uint8Array(1))).toThrow(expect.objectContaining({ code: "ECLOSED" }));
    expect(s.closed).toBe(false);
    s.take(4);
    await c;
    expect(s.closed).toBe(true);
    expect(s.releases).toBe(1);
    expect(s.close()).toBe(c);
    expect(s.releases).toBe(1);
  });

  it("close() after a failure rejects with it and still releases", async () => {
    const s = new MemorySender();
    const err = gone();
    s.breakWith(err);
    await expect(s.close()).rejects.toBe(err);
    expect(s.releases).toBe(1);
    expect(s.closed).toBe(true);
  });
});
