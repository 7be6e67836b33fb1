// The operating-system layer between real processes: typed errors from each
// family, /dev/shm segments shared with another process, futex wake-ups in
// both directions, and semaphore waits that never occupy the libuv pool.
// Child processes load the built package (dist), as a user's process would.
import { spawn, type ChildProcess } from "node:child_process";
import { pbkdf2 } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { release as osRelease, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ChannelError } from "@ipc-sampler/core";
import {
  createSegment,
  dupDescriptor,
  FutexWaiter,
  futexWake,
  mkfifo,
  mqOpen,
  openSegment,
  removeSegment,
  segmentExists,
  semExists,
  semOpen,
  semaphoreFutexWait,
  semUnlink,
} from "../src/index.js";

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist/index.js");
const unique = (what: string) => `ipcs-test-${what}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c();
    } catch {
      // already gone
    }
  }
});

/** Runs `body` (ESM, with the package imported as P) in a new node process; killed after the test. */
/** A new named semaphore holding no units, closed and unlinked after the test. */
function ownedSemaphore(what: string) {
  const name = `/${unique(what)}`;
  const sem = semOpen(name, { create: true, exclusive: true, value: 0 });
  cleanups.push(() => {
    sem.close();
    semUnlink(name);
  });
  return { name, sem };
}

function child(body: string, ...args: string[]): { proc: ChildProcess; output: Promise<string>; exited: Promise<number | null> } {
  const src = `import * as P from ${JSON.stringify(DIST)};\n${body}`;
  const proc = spawn(process.execPath, ["--input-type=module", "-e", src, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => proc.kill("SIGKILL"));
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return { proc, output: exited.then(() => out), exited };
}

function lineFrom(proc: ChildProcess, want: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    proc.stdout!.on("data", (d) => {
      seen += d;
      if (seen.includes(want)) resolve();
    });
    proc.on("exit", (code) => reject(new Error(`child exited (${code}) before printing ${want}; it printed: ${seen}`)));
  });
}

function words(buffer: Buffer): Int32Array {
  return new Int32Array(buffer.buffer, buffer.byteOffset, buffer.length >> 2);
}

describe("errors", () => {
  it("each family fails with a ChannelError that carries the errno name, the call and the resource", () => {
    const missing = unique("missing");
    const cases: Array<[() => unknown, string, string]> = [
      [() => mqOpen(`/${missing}`), "ENOENT", "mq_open"],
      [() => semOpen(`/${missing}`), "ENOENT", "sem_open"],
      [() => openSegment(missing), "ENOENT", "open"],
    ];
    const dir = mkdtempSync(path.join(tmpdir(), "ipcs-posix-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const fifo = path.join(dir, "taken.fifo");
    mkfifo(fifo);
    cases.push([() => mkfifo(fifo), "EEXIST", "mkfifo"]);
    for (const [call, errno, syscall] of cases) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      expect(err, syscall).toBeInstanceOf(ChannelError);
      expect(err, syscall).toMatchObject({ errno, syscall });
      expect((err as ChannelError).resource, syscall).toBeTruthy();
      expect((err as Error).message, syscall).toMatch(/^cannot /);
    }
  });

  it("refuses bad names before they reach the kernel", () => {
    for (const bad of ["", "a/b", "../escape", "x".repeat(300), "sp ace"]) {
      expect(() => semOpen(bad, { create: true }), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: "EINVALIDNAME" }));
      expect(() => createSegment(bad, 4096), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: "EINVALIDNAME" }));
    }
  });
});

describe("descriptors", () => {
  it("dupDescriptor gives a second, close-on-exec descriptor for the same open file; a closed one is EBADF", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ipcs-posix-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "shared-offset");
    const fd = openSync(file, "w");
    const copy = dupDescriptor(fd);
    expect(copy).not.toBe(fd);
    // One open file behind both: they share the file offset.
    writeSync(fd, "ab");
    writeSync(copy, "cd");
    closeSync(fd);
    closeSync(copy);
    expect(readFileSync(file, "utf8")).toBe("abcd");
    // fdinfo's flags are octal; O_CLOEXEC is 02000000.
    const again = openSync(file, "r");
    const dup2 = dupDescriptor(again);
    const flags = parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${dup2}`, "utf8"))![1]!, 8);
    closeSync(dup2);
    closeSync(again);
    expect(flags & 0o2000000).toBe(0o2000000);
    expect(() => dupDescriptor(again)).toThrow(expect.objectContaining({ errno: "EBADF", syscall: "fcntl" }));
    // A wrong argument is the caller's mistake, not a system error.
    expect(() => dupDescriptor("3" as unknown as number)).toThrow(TypeError);
    expect(() => dupDescriptor(-1)).toThrow(RangeError);
  });
});

describe("segments", () => {
  it("an empty file (its creator died before sizing it) is refused with EPROTO, not mapped", () => {
    const name = unique("empty");
    writeFileSync(`/dev/shm/${name}`, "");
    cleanups.push(() => removeSegment(name));
    expect(() => openSegment(name)).toThrow(expect.objectContaining({ code: "EPROTO", message: expect.stringMatching(/is empty/) }));
  });

  it("a /dev/shm file of mode 0600, mapped shared by another process, with atomics that are atomic across both", async () => {
    const name = unique("seg");
    const seg = createSegment(name, 4096);
    cleanups.push(() => removeSegment(name));
    expect(seg.path).toBe(`/dev/shm/${name}`);
    expect(statSync(seg.path).mode & 0o777).toBe(0o600);
    const w = words(seg.buffer);
    const N = 200_000;
    const c = child(
      `const s = P.openSegment(process.argv[1]); const w = new Int32Array(s.buffer.buffer, s.buffer.byteOffset, 1024);
       s.buffer.write("from the child", 64);
       for (let i = 0; i < ${N}; i++) Atomics.add(w, 0, 1);`,
      name,
    );
    for (let i = 0; i < N; i++) Atomics.add(w, 0, 1);
    expect(await c.exited).toBe(0);
    expect(Atomics.load(w, 0)).toBe(2 * N);
    expect(seg.buffer.toString("utf8", 64, 78)).toBe("from the child");
    seg.close();
    removeSegment(name);
    expect(segmentExists(name)).toBe(false);
  });
});

describe("futex across processes", () => {
  it("a FutexWaiter sleeps off the event loop until another process stores and wakes", async () => {
    const name = unique("futex");
    const seg = createSegment(name, 4096);
    cleanups.push(() => removeSegment(name));
    const w = words(seg.buffer);
    const waiter = new FutexWaiter(w, 1);
    cleanups.push(() => waiter.close());
    const woken = waiter.wait(0);
    let ticks = 0;
    const tick = setInterval(() => ticks++, 5);
    cleanups.push(() => clearInterval(tick));
    const c = child(
      `const s = P.openSegment(process.argv[1]); const w = new Int32Array(s.buffer.buffer, s.buffer.byteOffset, 1024);
       await new Promise((r) => setTimeout(r, 150));
       Atomics.store(w, 1, 7); console.log(P.futexWake(w, 1));`,
      name,
    );
    expect(await woken).toBe("woken");
    expect(Atomics.load(w, 1)).toBe(7);
    expect(ticks).toBeGreaterThan(3); // the loop kept turning while the wait was armed
    expect((await c.output).trim()).toBe("1"); // FUTEX_WAKE found exactly this waiter
  });

  it("wakes a waiter in another process, and a wait ends by timeout or cancel", async () => {
    const name = unique("futex2");
    const seg = createSegment(name, 4096);
    cleanups.push(() => removeSegment(name));
    const w = words(seg.buffer);
    const c = child(
      `const s = P.openSegment(process.argv[1]); const w = new Int32Array(s.buffer.buffer, s.buffer.byteOffset, 1024);
       Atomics.store(w, 2, 1); console.log("waiting");
       console.log(P.futexWaitSync(w, 2, 1, 10000), Atomics.load(w, 2));`,
      name,
    );
    await lineFrom(c.proc, "waiting");
    // The child may still be between its print and FUTEX_WAIT: the value check makes that safe.
    Atomics.store(w, 2, 2);
    futexWake(w, 2);
    expect((await c.output).trim().split("\n").pop()).toBe("woken 2");

    const waiter = new FutexWaiter(w, 3);
    cleanups.push(() => waiter.close());
    expect(await waiter.wait(0, 30)).toBe("timed-out");
    const pending = waiter.wait(0);
    waiter.cancel();
    expect(await pending).toBe("cancelled");
    const closing = waiter.wait(0);
    waiter.close();
    expect(await closing).toBe("cancelled");
    await expect(waiter.wait(0)).rejects.toMatchObject({ code: "ECLOSED" });
  });

  // IORING_OP_FUTEX_WAIT came in Linux 6.7; io_uring_disabled 2 forbids rings to everyone.
  const [major = 0, minor = 0] = osRelease().split(".").map(Number);
  let uringDisabled = "0";
  try {
    uringDisabled = readFileSync("/proc/sys/kernel/io_uring_disabled", "utf8").trim();
  } catch {
    // no such sysctl before Linux 6.6: io_uring is allowed
  }
  const ringReason = major * 100 + minor < 607 ? `kernel ${osRelease()} has no IORING_OP_FUTEX_WAIT (6.7+)` : uringDisabled !== "0" ? "io_uring is restricted by sysctl here" : undefined;
  if (ringReason) console.warn(`skipping the io_uring futex test: ${ringReason}`);

  it.skipIf(ringReason !== undefined)("where io_uring can wait on a futex, armed FutexWaiters start no thread and are woken from another process", async () => {
    const name = unique("futex-ring");
    const seg = createSegment(name, 4096);
    cleanups.push(() => removeSegment(name));
    const w = words(seg.buffer);
    // Thread counts are taken in a child of its own: the test runner starts threads of its own at any time.
    const c = child(
      `const { readdirSync } = await import("node:fs");
       const s = P.openSegment(process.argv[1]); const w = new Int32Array(s.buffer.buffer, s.buffer.byteOffset, 1024);
       const threads = () => readdirSync("/proc/self/task").length;
       const waiters = Array.from({ length: 8 }, () => new P.FutexWaiter(w, 5));
       const before = threads();
       const woken = Promise.all(waiters.map((x) => x.wait(0)));
       await new Promise((r) => setTimeout(r, 50));
       console.log("armed", threads() - before);
       const outcomes = await woken;
       for (const x of waiters) x.close();
       console.log(outcomes.join(","));`,
      name,
    );
    await lineFrom(c.proc, "armed");
    Atomics.store(w, 5, 1);
    expect(futexWake(w, 5)).toBe(8);
    expect((await c.output).trim().split("\n")).toEqual(["armed 0", Array(8).fill("woken").join(",")]);
  });

  it("a program that ends with FutexWaiters never closed exits cleanly (idle, armed, on a SharedArrayBuffer)", async () => {
    // Node finalizes its thread-safe functions before wrapped objects at
    // teardown; a waiter that let go of its function only then aborted the
    // exiting process (exit 134) every time.
    const c = child(
      `const { FutexWaiter } = P.native();
       const plain = new Int32Array(new ArrayBuffer(64)), shared = new Int32Array(new SharedArrayBuffer(64));
       const kept = [];
       for (let i = 0; i < 4; i++) kept.push(new FutexWaiter(i % 2 ? shared : plain, i * 4, () => {}));
       kept[1].wait(0, 60000); kept[1].cancel();
       console.log("made", kept.length);`,
    );
    expect(await c.exited).toBe(0);
    expect((await c.output).trim()).toBe("made 4");
  });
});

describe("semaphore waits", () => {
  it("semaphoreFutexWait sleeps on the semaphore's own futex word: another process's sem_post wakes it and the unit is taken; a timeout resolves false; close() ends a pending wait", async () => {
    const { name, sem: s } = ownedSemaphore("semf");
    const fw = semaphoreFutexWait(s);
    expect(fw, "glibc's 64-bit layout on x64 and arm64").toBeDefined();
    cleanups.push(() => fw!.close());
    expect(await fw!.wait(30)).toBe(false);
    await expect(fw!.wait("soon" as never)).rejects.toThrow(TypeError);
    await expect(fw!.wait(Number.NaN)).rejects.toThrow(TypeError);
    expect(() => semaphoreFutexWait({} as never)).toThrow(TypeError);
    const pending = fw!.wait(20_000);
    await new Promise((r) => setTimeout(r, 50));
    const c = child(`const s = P.semOpen(process.argv[1]); s.post(); s.close();`, name);
    expect(await c.exited).toBe(0);
    const posted = Date.now();
    expect(await pending).toBe(true);
    // Woken by the post, not by the deadline: sem_post wakes only a waiter registered in the word's high half.
    expect(Date.now() - posted).toBeLessThan(10_000);
    expect(s.value).toBe(0);
    const word = openSegment(`sem.${name.slice(1)}`);
    expect(new Int32Array(word.buffer.buffer, word.buffer.byteOffset, 2)[1], "no waiter left registered").toBe(0);
    word.close();
    const last = fw!.wait(20_000);
    fw!.close();
    expect(await last).toBe(false);
  });

  it("more blocked waits than the libuv pool has threads leave the pool free; posts from another process end them", async () => {
    const { name, sem: owner } = ownedSemaphore("sem");
    expect(semExists(name)).toBe(true);
    const WAITS = 8; // the pool has 4 threads
    const handles = Array.from({ length: WAITS }, () => semOpen(name));
    cleanups.push(() => handles.forEach((h) => h.close()));
    const waits = handles.map((h) => h.wait(-1));
    // Pool work still runs while every wait is blocked.
    const pool = await Promise.race([
      new Promise<string>((resolve, reject) => pbkdf2("pw", "salt", 1, 32, "sha256", (err) => (err ? reject(err) : resolve("pool ran")))),
      new Promise<string>((resolve) => setTimeout(() => resolve("pool starved"), 10_000)),
    ]);
    expect(pool).toBe("pool ran");
    const c = child(`const s = P.semOpen(process.argv[1]); for (let i = 0; i < ${WAITS}; i++) s.post(); s.close();`, name);
    expect(await c.exited).toBe(0);
    expect(await Promise.all(waits)).toEqual(Array(WAITS).fill(true));
    expect(owner.value).toBe(0);
  });

  it("a pending wait rejects ECLOSED on close, and a timed wait resolves false", async () => {
    const name = `/${unique("sem2")}`;
    const s = semOpen(name, { create: true, exclusive: true });
    cleanups.push(() => semUnlink(name));
    expect(await s.wait(30)).toBe(false);
    const pending = s.wait(-1);
    s.close();
    await expect(pending).rejects.toMatchObject({ code: "ECLOSED" });
    expect(() => s.post()).toThrow(expect.objectContaining({ code: "ECLOSED" }));
  });
});
