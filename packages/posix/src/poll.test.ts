import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { closeFd, pipe2 } from "./pipe.js";
import { FdWatcher, READABLE, WRITABLE, readNonBlocking, watchProcessExit, writeEach, writeNonBlocking } from "./poll.js";
import { mqClose, mqCreate, mqGetAttr, mqReceive, mqReceiveBatch, mqSend, mqSendBatch, mqUnlink } from "./mq.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function pipe(): [number, number] {
  const fds = pipe2(true);
  cleanups.push(() => {
    closeFd(fds[0]);
    closeFd(fds[1]);
  });
  return fds;
}

describe("FdWatcher", () => {
  it("reports readable, and nothing once stopped", async () => {
    const [r, w] = pipe();
    const seen: number[] = [];
    const watcher = new FdWatcher(r, (err, events) => {
      expect(err).toBeUndefined();
      seen.push(events);
      watcher.stop();
    });
    cleanups.push(() => watcher.close());
    watcher.start(READABLE);
    await new Promise((res) => setTimeout(res, 20));
    expect(seen).toEqual([]);
    expect(writeNonBlocking(w, Buffer.from("hi"), 0, 2)).toBe(2);
    await new Promise((res) => setTimeout(res, 20));
    expect(seen).toEqual([READABLE]);
    await new Promise((res) => setTimeout(res, 20));
    expect(seen).toHaveLength(1); // stopped: level-triggered readiness no longer reported
    const buf = Buffer.alloc(10);
    expect(readNonBlocking(r, buf, 0, 10)).toBe(2);
    expect(readNonBlocking(r, buf, 0, 10)).toBe(-1); // EAGAIN as a value
  });

  it("reports writable once a full pipe drains; writeEach stops at EAGAIN", async () => {
    const [r, w] = pipe();
    const packet = Buffer.alloc(4096, 1);
    const pairs = new Int32Array(2 * 64);
    for (let i = 0; i < 64; i++) pairs.set([0, 4096], 2 * i);
    let written = 0;
    for (let n; (n = writeEach(w, packet, pairs, 0, 64)) > 0; ) written += n;
    expect(written).toBe(16); // 64 KiB default pipe capacity
    const writable = new Promise<number>((resolve) => {
      const watcher = new FdWatcher(w, (_err, events) => {
        watcher.close();
        resolve(events);
      });
      watcher.start(WRITABLE);
    });
    const sink = Buffer.alloc(65536);
    expect(readNonBlocking(r, sink, 0, sink.length)).toBe(65536);
    expect(await writable).toBe(WRITABLE);
  });

  it("writeEach with pageRun writes adjacent full slices in one write(2) each run, and reports whole slices when the pipe fills", () => {
    const [r, w] = pipe();
    const buf = Buffer.allocUnsafe(64 * 4096);
    for (let i = 0; i < 64; i++) buf.fill(i + 1, i * 4096, (i + 1) * 4096);
    const pairs = new Int32Array(2 * 64);
    for (let i = 0; i < 64; i++) pairs.set([i * 4096, i === 5 ? 100 : 4096], 2 * i);
    // write(2) calls this thread made (proc(5) /proc/thread-self/io, syscw).
    const writes = () => Number(/syscw: (\d+)/.exec(readFileSync("/proc/thread-self/io", "utf8"))![1]);
    const before = writes();
    const done = writeEach(w, buf, pairs, 0, 64, 4096);
    const calls = writes() - before;
    // Slices 0-4 in one write, the short slice 5 alone, then 6.. until the 64 KiB pipe is full (whole pages only).
    expect(done).toBe(16);
    expect(calls).toBe(3);
    const sink = Buffer.alloc(65536);
    const n = readNonBlocking(r, sink, 0, sink.length);
    const expected = Buffer.concat(Array.from({ length: 16 }, (_, i) => buf.subarray(i * 4096, i * 4096 + (i === 5 ? 100 : 4096))));
    expect(sink.subarray(0, n).equals(expected)).toBe(true);
    // The next call goes on from slice 16.
    expect(writeEach(w, buf, pairs, 16, 48, 4096)).toBeGreaterThan(0);
    expect(readNonBlocking(r, sink, 0, 4096)).toBe(4096);
    expect(sink[0]).toBe(17);
    const unjoined = writes();
    writeEach(w, buf, pairs, 0, 2);
    expect(writes() - unjoined).toBe(2);
  });

  it("watchProcessExit calls back when a process exits, at once for one that is gone", async () => {
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 200)"], { stdio: "ignore" });
    const started = Date.now();
    await new Promise<void>((resolve) => watchProcessExit(child.pid!, resolve));
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    await new Promise((res) => child.once("exit", res));
    await new Promise<void>((resolve) => watchProcessExit(child.pid!, resolve));
  });
});

describe("POSIX message queue calls", () => {
  it("send, receive and batches report full and empty as values", () => {
    const q = mqCreate(`/ipcs-unit-${process.pid}`, { maxMessages: 4, messageSize: 64, access: "readwrite" });
    cleanups.push(() => {
      mqClose(q.mqd);
      mqUnlink(q.name);
    });
    expect(q).toMatchObject({ maxMessages: 4, messageSize: 64 });
    const buf = Buffer.alloc(64 * 8);
    expect(mqReceive(q.mqd, buf, 0, 64)).toBe(-1);
    const data = Buffer.from("abcdefgh");
    const pairs = Int32Array.of(0, 1, 1, 2, 3, 0, 3, 5, 0, 8);
    expect(mqSendBatch(q.mqd, data, pairs, 0, 5)).toBe(4); // the fifth does not fit
    expect(mqSend(q.mqd, data)).toBe(false);
    expect(mqGetAttr(q.mqd).curmsgs).toBe(4);
    const out = new Int32Array(16);
    expect(mqReceiveBatch(q.mqd, buf, 0, buf.length, 64, out)).toBe(4);
    expect(Array.from(out.subarray(0, 8))).toEqual([0, 1, 1, 2, 3, 0, 3, 5]);
    expect(buf.subarray(0, 8).toString()).toBe("abcdefgh");
    expect(mqReceiveBatch(q.mqd, buf, 0, buf.length, 64, out)).toBe(0);
  });
});

describe("argument checks shared by the buffer calls", () => {
  it("refuse slices, runs and ranges outside their arrays, and arrays of the wrong type, before any system call", () => {
    const [r, w] = pipe();
    const buf = new Uint8Array(16);
    expect(() => writeEach(w, buf, new Int32Array([8, 9]), 0, 1)).toThrow(/a slice lies outside the buffer/);
    expect(() => writeEach(w, buf, new Int32Array([-1, 2]), 0, 1)).toThrow(/a slice lies outside the buffer/);
    expect(() => writeEach(w, buf, new Int32Array([0, 2]), 1, 1)).toThrow(/from and count must lie inside pairs/);
    expect(() => writeEach(w, buf, new Uint32Array([0, 2]) as unknown as Int32Array, 0, 1)).toThrow(/Int32Array/);
    expect(() => writeEach(w, buf, new Int32Array([0, 2]), 0, 1, 3000)).toThrow(/pageRun must be 0 or a power of two/);
    expect(() => writeEach(w, buf, new Int32Array([0, 2]), 0, 1, 8192)).toThrow(/pageRun must be an integer from 0 to 4096/);
    expect(() => readNonBlocking(r, buf, 10, 7)).toThrow(/offset and length must lie inside the buffer/);
    expect(() => writeNonBlocking(w, buf, -1, 1)).toThrow(/offset must be an integer from 0/);
    expect(() => readNonBlocking(r, new Uint16Array(4) as unknown as Uint8Array, 0, 1)).toThrow(/expected a Uint8Array/);
    // Nothing reached the pipe.
    expect(readNonBlocking(r, buf, 0, 16)).toBe(-1);

    const h = mqCreate(`/ipcs-argcheck-${process.pid}`, { maxMessages: 4, messageSize: 64, access: "readwrite" });
    cleanups.push(() => {
      mqClose(h.mqd);
      mqUnlink(h.name);
    });
    const q = h.mqd;
    expect(() => mqSendBatch(q, buf, new Int32Array([0, 17]), 0, 1)).toThrow(/a slice lies outside the buffer/);
    expect(() => mqSendBatch(q, buf, new Int32Array([0, 4]), 0, 2)).toThrow(/count must be an integer from 0 to 1/);
    expect(() => mqReceive(q, new Uint8Array(64), 1, 64)).toThrow(/offset and length must lie inside the buffer/);
    expect(() => mqReceiveBatch(q, new Uint8Array(64), 0, 65, 64, new Int32Array(2), 1)).toThrow(/offset and end must lie inside the buffer/);
    expect(mqGetAttr(q).curmsgs).toBe(0);
  });
});
