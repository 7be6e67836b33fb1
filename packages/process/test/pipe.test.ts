import { afterAll, describe, expect, it } from "vitest";
import { udsTransport } from "@ipc-sampler/socket";
import { fifoTransport } from "@ipc-sampler/fifo";
import { jsonCodec, ObjectReceiver, ObjectSender, Pipe, Process, rawCodec, v8Codec } from "../dist/index.js";
import { killAll, tasks, track } from "./helpers.js";

afterAll(killAll);

describe("codecs", () => {
  it("carry objects over a transport's Sender/Receiver, a batch per await", async () => {
    const receiver = await udsTransport.listen({ expectedProducers: 1 });
    const sender = new ObjectSender(await udsTransport.connect(receiver.address), v8Codec);
    const values = [{ a: 1n }, new Map([[1, "x"]]), new Date(5), new Uint8Array([1, 2])];
    for (const v of values) sender.write(v);
    await sender.close();
    const got: unknown[] = [];
    for await (const v of new ObjectReceiver(receiver, v8Codec)) got.push(v);
    expect(got).toEqual(values);
    await receiver.close();
    expect(jsonCodec.decode(jsonCodec.encode({ x: [1, "y"] }))).toEqual({ x: [1, "y"] });
    expect(rawCodec.decode(rawCodec.encode(new Uint8Array([9])))).toEqual(new Uint8Array([9]));
    expect(() => new ObjectSender(sender.bytes, v8Codec).write(() => 1)).toThrow(expect.objectContaining({ code: "EPROTO" }));
  });
});

describe("Pipe", () => {
  it.each([
    ["uds", udsTransport],
    ["fifo", fifoTransport],
  ])("two ends in one process talk both ways over %s; recv, poll, timeouts, close", async (_, transport) => {
    const [a, b] = await Pipe({ transport });
    await b.send({ hello: "from b" });
    expect(await a.recv({ timeoutMs: 5000 })).toEqual({ hello: "from b" });
    await a.send([1, 2, 3]);
    expect(await b.poll(5000)).toBe(true);
    expect(await b.recv()).toEqual([1, 2, 3]);
    expect(await b.poll()).toBe(false);
    await expect(b.recv({ timeoutMs: 50 })).rejects.toMatchObject({ code: "ETIMEDOUT" });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await expect(b.recv({ signal: ac.signal })).rejects.toMatchObject({ name: "AbortError" });
    await a.close();
    await expect(a.send(1)).rejects.toMatchObject({ code: "ECLOSED" });
    await expect(b.recv({ timeoutMs: 5000 })).rejects.toMatchObject({ code: "EPEERGONE" });
    await b.close();
  });

  it("an end passed to a Process talks to the parent", async () => {
    const [parent, child] = await Pipe();
    const p = new Process({ module: tasks, target: "echoPipe", args: [child, 2] });
    await p.start();
    track(p.pid);
    await parent.send("ping");
    expect(await parent.recv({ timeoutMs: 10_000 })).toEqual(["echo", "ping"]);
    await parent.send({ n: 2 });
    expect(await parent.recv({ timeoutMs: 10_000 })).toEqual(["echo", { n: 2 }]);
    await expect(parent.recv({ timeoutMs: 10_000 })).rejects.toMatchObject({ code: "EPEERGONE" });
    expect(await p.join()).toBe(0);
    await parent.close();
    await expect(child.send(1)).rejects.toMatchObject({ code: "ECLOSED" });
  });
});
