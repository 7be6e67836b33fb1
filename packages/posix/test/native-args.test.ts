// `native()` is a public export: every native function gets wrong types and
// out-of-range numbers, and must throw TypeError or RangeError before any
// system call (no fd closed or leaked, nothing read, nothing created, no
// abort). The table runs in a child process, so an abort fails the test
// instead of taking the test runner down.
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist/index.js");
const tag = `ipcs-test-args-${process.pid}`;

// Each probe: [name, call source]. `n` is native(), `b` a 64-byte Uint8Array,
// `p` an Int32Array of 4 pairs, `w` an Int32Array(4) for futexes and marks,
// `fd` a pipe's read end, `h` an open semaphore handle.
const probes: Array<[string, string]> = [
  ["pipe2 string flags", `n.pipe2("x")`],
  ["pipe2 unknown flag bits", `n.pipe2(0x7fff0000)`],
  ["setPipeSize string fd", `n.setPipeSize("x", 65536)`],
  ["setPipeSize negative size", `n.setPipeSize(fd, -1)`],
  ["getPipeSize fractional fd", `n.getPipeSize(1.5)`],
  ["mkfifo number path", `n.mkfifo(123, 0o600)`],
  ["mkfifo string mode", `n.mkfifo("/tmp/${tag}-fifo", "bad")`],
  ["mkfifo mode out of range", `n.mkfifo("/tmp/${tag}-fifo", 0o100000)`],
  ["mkfifo NUL in path", `n.mkfifo("/tmp/${tag}\\0x", 0o600)`],
  ["close string fd", `n.close("abc")`],
  ["close negative fd", `n.close(-1)`],
  ["close fd beyond int32", `n.close(2 ** 32)`],
  ["semOpen number name", `n.semOpen(5, true, true, 0o600, 0)`],
  ["semOpen string mode", `n.semOpen("/${tag}-sem", true, true, "bad", 1)`],
  ["semOpen string create", `n.semOpen("/${tag}-sem", "yes", true, 0o600, 1)`],
  ["semOpen value over SEM_VALUE_MAX", `n.semOpen("/${tag}-sem", true, true, 0o600, 2 ** 32)`],
  ["semOpen name with two slashes", `n.semOpen("/${tag}/x", true, true, 0o600, 1)`],
  ["semPost not a handle", `n.semPost({})`],
  ["semPost mark index out of range", `n.semPost(h, w, 99, 1)`],
  ["semPost mark string index", `n.semPost(h, w, "0", 1)`],
  ["semTryWait not a handle", `n.semTryWait(7)`],
  ["semWait string timeout", `n.semWait(h, "x", () => {})`],
  ["semWait NaN timeout", `n.semWait(h, NaN, () => {})`],
  ["semWait no callback", `n.semWait(h, 10, 5)`],
  ["semGetValue not a handle", `n.semGetValue("h")`],
  ["semUnlink number", `n.semUnlink(5)`],
  ["mqOpen number name", `n.mqOpen(5, n.MQ_O_RDONLY, 0o600, 0, 0)`],
  ["mqOpen string oflag", `n.mqOpen("/${tag}-mq", "x", 0o600, 0, 0)`],
  ["mqOpen unknown oflag bits", `n.mqOpen("/${tag}-mq", n.MQ_O_CREAT | 0x10000000, 0o600, 0, 0)`],
  ["mqOpen string mode", `n.mqOpen("/${tag}-mq", n.MQ_O_CREAT | n.MQ_O_RDONLY, "bad", 0, 0)`],
  ["mqOpen negative maxmsg", `n.mqOpen("/${tag}-mq", n.MQ_O_CREAT | n.MQ_O_RDONLY, 0o600, -1, 64)`],
  ["mqSend string mqd", `n.mqSend("x", b, 0, 1, 0)`],
  ["mqSend range past the buffer", `n.mqSend(fd, b, 60, 10, 0)`],
  ["mqSend fractional offset", `n.mqSend(fd, b, 0.5, 1, 0)`],
  ["mqSend priority out of range", `n.mqSend(fd, b, 0, 1, -1)`],
  ["mqSendBatch from+count past pairs", `n.mqSendBatch(fd, b, p, 3, 2, 0)`],
  ["mqSendBatch huge count", `n.mqSendBatch(fd, b, p, 0, 1e19, 0)`],
  ["mqReceive string length", `n.mqReceive(fd, b, 0, "64")`],
  ["mqReceiveBatch string msgsize", `n.mqReceiveBatch(fd, b, 0, 64, "x", p, 2)`],
  ["mqReceiveBatch end past the buffer", `n.mqReceiveBatch(fd, b, 0, 65, 8, p, 2)`],
  ["mqGetAttr string", `n.mqGetAttr("x")`],
  ["mqClose string", `n.mqClose("x")`],
  ["mqUnlink number", `n.mqUnlink(5)`],
  ["futexWake string offset", `n.futexWake(w, "0", 1)`],
  ["futexWake unaligned offset", `n.futexWake(w, 2, 1)`],
  ["futexWake offset past the end", `n.futexWake(w, 16, 1)`],
  ["futexWake not a buffer", `n.futexWake(5, 0, 1)`],
  ["futexWaitSync string expected", `n.futexWaitSync(w, 0, "0", 10)`],
  ["futexWaitSync expected beyond 32 bits", `n.futexWaitSync(w, 0, 2 ** 40, 10)`],
  ["futexWaitSync NaN timeout", `n.futexWaitSync(w, 0, 0, NaN)`],
  ["FutexWaiter not a buffer", `new n.FutexWaiter(1, 0, () => {})`],
  ["FutexWaiter no callback", `new n.FutexWaiter(w, 0, 1)`],
  ["FutexWaiter.wait string expected", `(() => { const x = new n.FutexWaiter(w, 0, () => {}); try { x.wait("0", 1); } finally { x.close(); } })()`],
  ["FdWatcher string fd", `new n.FdWatcher("0", () => {})`],
  ["FdWatcher negative fd", `new n.FdWatcher(-1, () => {})`],
  ["FdWatcher.start unknown events", `(() => { const x = new n.FdWatcher(fd, () => {}); try { x.start(64); } finally { x.close(); } })()`],
  ["pidfdOpen string", `n.pidfdOpen("x")`],
  ["pidfdOpen 0", `n.pidfdOpen(0)`],
  ["pidfdOpen 2^31", `n.pidfdOpen(2 ** 31)`],
  ["readNonBlocking string fd", `n.readNonBlocking("x", b, 0, 8)`],
  ["readNonBlocking negative length", `n.readNonBlocking(fd, b, 0, -1)`],
  ["readNonBlocking not a Uint8Array", `n.readNonBlocking(fd, [], 0, 1)`],
  ["writeNonBlocking string fd", `n.writeNonBlocking("x", b, 0, 8)`],
  ["writeNonBlocking Infinity length", `n.writeNonBlocking(fd, b, 0, Infinity)`],
  ["writeEach overflowing from", `n.writeEach(fd, b, p, 1e19, 1)`],
  ["writeEach from+count past pairs", `n.writeEach(fd, b, p, 2, 3)`],
  ["writeEach pairs not Int32Array", `n.writeEach(fd, b, new Uint32Array(8), 0, 1)`],
  ["writeEach string pageRun", `n.writeEach(fd, b, p, 0, 1, "4096")`],
  ["writeEach pageRun not a power of two", `n.writeEach(fd, b, p, 0, 1, 3000)`],
  ["writeEach pageRun over PIPE_BUF", `n.writeEach(fd, b, p, 0, 1, 8192)`],
  ["writeEach negative pageRun", `n.writeEach(fd, b, p, 0, 1, -4096)`],
  ["socketSendBuffer string fd", `n.socketSendBuffer("x", 1024)`],
  ["socketSendBuffer negative fd", `n.socketSendBuffer(-1, 1024)`],
  ["socketSendBuffer string bytes", `n.socketSendBuffer(fd, "1024")`],
  ["socketSendBuffer negative bytes", `n.socketSendBuffer(fd, -1)`],
  ["socketSendBuffer bytes over 1 GiB", `n.socketSendBuffer(fd, 2 ** 31)`],
  ["peerCredentials string fd", `n.peerCredentials("x")`],
  ["peerCredentials negative fd", `n.peerCredentials(-1)`],
  ["dupCloexec string fd", `n.dupCloexec("x")`],
  ["dupCloexec negative fd", `n.dupCloexec(-1)`],
  ["dupCloexec fd beyond int32", `n.dupCloexec(2 ** 32)`],
  ["wordSum a plain array", `n.wordSum([1, 2, 3, 4], 0, 4, 0)`],
  ["wordSum an Int32Array", `n.wordSum(p, 0, 4, 0)`],
  ["wordSum range past the end", `n.wordSum(b, 60, 8, 0)`],
  ["wordSum negative offset", `n.wordSum(b, -4, 4, 0)`],
  ["wordSum huge length", `n.wordSum(b, 0, 2 ** 40, 0)`],
  ["wordSum negative firstIndex", `n.wordSum(b, 0, 4, -1)`],
  ["wordSum firstIndex beyond uint32", `n.wordSum(b, 0, 4, 2 ** 32)`],
  ["setParentDeathSignal string signal", `n.setParentDeathSignal("x", 1)`],
  ["setParentDeathSignal signal 0", `n.setParentDeathSignal(0, 1)`],
  ["setParentDeathSignal pid beyond int32", `n.setParentDeathSignal(9, 2 ** 40)`],
  ["mapShared string fd", `n.mapShared("x", 4096, false)`],
  ["mapShared size 0", `n.mapShared(fd, 0, false)`],
  ["mapShared size beyond 2^46", `n.mapShared(fd, 2 ** 47, false)`],
  ["mapShared string populate", `n.mapShared(fd, 4096, "yes")`],
];

const program = `
import { readdirSync, fstatSync } from "node:fs";
import * as P from ${JSON.stringify(DIST)};
const n = P.native();
const fdsBefore = readdirSync("/proc/self/fd").length;
const [fd, wfd] = n.pipe2(n.O_CLOEXEC | n.O_NONBLOCK);
const b = new Uint8Array(64);
const p = new Int32Array([0, 8, 8, 8, 16, 8, 24, 8]);
const w = new Int32Array(4);
const h = n.semOpen("/${tag}-held", true, true, 0o600, 0);
const results = {};
for (const [name, src] of ${JSON.stringify(probes)}) {
  try {
    const value = new Function("n", "b", "p", "w", "fd", "h", "return " + src)(n, b, p, w, fd, h);
    results[name] = "returned " + String(value);
  } catch (err) {
    results[name] = err instanceof TypeError ? "TypeError" : err instanceof RangeError ? "RangeError" : "other: " + (err.code ?? err.message);
  }
}
n.semClose(h);
n.semUnlink("/${tag}-held");
n.close(fd);
n.close(wfd);
fstatSync(0); // close("abc") must not have closed stdin
const fdsAfter = readdirSync("/proc/self/fd").length;
console.log(JSON.stringify({ results, leaked: fdsAfter - fdsBefore }));
`;

afterAll(() => {
  for (const f of [`/tmp/${tag}-fifo`, `/dev/shm/sem.${tag}-sem`, `/dev/shm/sem.${tag}-held`]) rmSync(f, { force: true });
});

describe("native() argument checks", () => {
  const run = () => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", program], { encoding: "utf8", timeout: 20_000, input: "12345678" });
    expect(r.signal, `child died by ${r.signal}: ${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split("\n").pop()!) as { results: Record<string, string>; leaked: number };
  };

  it("every wrong type or out-of-range number throws TypeError or RangeError, never aborts, reads, closes or leaks", () => {
    const { results, leaked } = run();
    const bad = Object.entries(results).filter(([, r]) => r !== "TypeError" && r !== "RangeError");
    expect(bad).toEqual([]);
    expect(leaked).toBe(0);
    // Nothing was created by a refused call.
    expect(() => statSync(`/tmp/${tag}-fifo`)).toThrow();
    expect(readdirSync("/dev/shm").filter((f) => f.includes(`${tag}-sem`))).toEqual([]);
  });
});

describe("futex timeouts", () => {
  it("a timeout too large for the clock arithmetic waits without a deadline instead of timing out at once", async () => {
    const { native } = await import("../src/index.js");
    const n = native();
    const w = new Int32Array(1);
    const outcomes: number[] = [];
    const waiter = new n.FutexWaiter(w, 0, (o) => outcomes.push(o));
    try {
      waiter.wait(0, 1e13);
      await new Promise((r) => setTimeout(r, 300));
      expect(outcomes).toEqual([]);
      waiter.cancel();
      for (let i = 0; i < 100 && outcomes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(outcomes).toEqual([2]);
    } finally {
      waiter.close();
    }
  });

  it("a FutexWaiter closed with an outcome still queued and then collected delivers it without touching freed memory", () => {
    const src = `
      import * as P from ${JSON.stringify(DIST)};
      const n = P.native();
      let got = 0;
      for (let i = 0; i < 200; i++) {
        let x = new n.FutexWaiter(new Int32Array(1), 0, () => got++);
        x.wait(0, -1);
        x.close();
        x = null;
      }
      for (let i = 0; i < 5; i++) globalThis.gc();
      setTimeout(() => { globalThis.gc(); console.log("delivered " + got); }, 50);
    `;
    const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", src], { encoding: "utf8", timeout: 20_000 });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.stdout.trim()).toBe("delivered 200");
  });
});
