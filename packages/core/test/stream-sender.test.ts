import { mkdtempSync, readSync, rmSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StreamSender } from "../src/stream.js";
import { ChannelError } from "../src/errors.js";

// A StreamSender on a real Unix socket. The receiving end is read with
// read(2) on its descriptor, before the event loop runs, to see what the
// sender handed to the kernel inside write() and what it kept for later.

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.reverse()) c();
  cleanup = [];
});

async function socketPair(): Promise<{ sender: StreamSender; peerFd: number }> {
  const dir = mkdtempSync(join(tmpdir(), "ipcs-stream-sender-"));
  const path = join(dir, "s.sock");
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const client = connect(path);
  await new Promise<void>((resolve) => client.once("connect", resolve));
  const peer = await accepted;
  // The test reads the descriptor itself.
  peer.pause();
  cleanup.push(() => {
    client.destroy();
    peer.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const sender = new StreamSender(client, { maxMessageSize: 1 << 20, resource: path });
  const peerFd = (peer as unknown as { _handle: { fd: number } })._handle.fd;
  return { sender, peerFd };
}

/** What the kernel holds for the peer now (non-blocking read). */
function pending(fd: number): Buffer {
  const buf = Buffer.alloc(1 << 16);
  try {
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, null));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EAGAIN") return Buffer.alloc(0);
    throw err;
  }
}

const frame = (...bytes: number[]) => Buffer.from([bytes.length, 0, 0, 0, ...bytes]);
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("StreamSender", () => {
  it("hands a lone message on an idle stream to the kernel within write()", async () => {
    const { sender, peerFd } = await socketPair();
    sender.write(Uint8Array.of(1, 2, 3));
    expect(pending(peerFd)).toEqual(frame(1, 2, 3));
    await turn();
    sender.write(Uint8Array.of(4));
    expect(pending(peerFd)).toEqual(frame(4));
  });

  it("still sends the rest of a run of writes as one write at its end, in order", async () => {
    const { sender, peerFd } = await socketPair();
    for (let i = 0; i < 100; i++) sender.write(Uint8Array.of(i));
    expect(pending(peerFd)).toEqual(frame(0));
    await turn();
    const rest = Buffer.concat(Array.from({ length: 99 }, (_, i) => frame(i + 1)));
    expect(pending(peerFd)).toEqual(rest);
  });

  it("ends a run with write(2) when the kernel has room, so the chunk is reused at once, not through socket.write", async () => {
    const { sender, peerFd } = await socketPair();
    const socket = (sender as unknown as { socket: Socket }).socket;
    let viaSocket = 0;
    const write = socket.write.bind(socket);
    socket.write = ((...args: Parameters<Socket["write"]>) => (viaSocket++, write(...args))) as Socket["write"];
    const message = Buffer.alloc(1024, 7);
    // A run of 7 frames, 7 KiB: the first goes out in write(), the rest at the run's end.
    for (let i = 0; i < 7; i++) sender.write(message);
    await turn();
    let got = 0;
    for (let part = pending(peerFd); part.length > 0; part = pending(peerFd)) got += part.length;
    expect(got).toBe(7 * (4 + message.length));
    expect(viaSocket).toBe(0);
  });
});

describe("StreamSender when the peer goes away inside a run of writes", () => {
  it("write() throws the channel's ChannelError (never a RangeError) when flushing the full chunk fails", async () => {
    // TCP: after the peer closed, the first write still goes through (the
    // peer's kernel answers it with a reset); a later write(2) fails. Here
    // that later write(2) is the flush of a full chunk inside write().
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const client = connect(port, "127.0.0.1");
    client.on("error", () => {});
    await new Promise<void>((resolve) => client.once("connect", resolve));
    const peer = await accepted;
    cleanup.push(() => {
      client.destroy();
      server.close();
    });
    const sender = new StreamSender(client, { maxMessageSize: 1 << 20, resource: "tcp test" });
    peer.destroy();
    // The kernel has the peer's FIN; this process has not run its 'end' yet
    // (as a producer writing in a loop has not when its receiver is killed).
    const until = Date.now() + 20;
    while (Date.now() < until);
    const message = new Uint8Array(1000);
    let thrown: unknown;
    try {
      // One synchronous run: the first write(2) is accepted, the reset comes
      // back, and the chunk (256 KiB) fills and is flushed inside a write().
      for (let i = 0; i < 1000; i++) sender.write(message);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ChannelError);
    expect((thrown as ChannelError).code).toMatch(/^(EPEERGONE|ESYSCALL)$/);
    await sender.close().catch(() => {});
  });
});
