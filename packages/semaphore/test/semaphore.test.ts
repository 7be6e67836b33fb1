import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ChannelError, uniqueName } from "@ipc-sampler/core";
import { afterEach, describe, expect, it } from "vitest";
import { Lock, Semaphore } from "../src/index.js";

const HOLDER = fileURLToPath(new URL("./fixtures/holder.mjs", import.meta.url));
const children = new Set<ChildProcess>();
const opened: Array<Semaphore | Lock> = [];

function start(...args: string[]): { child: ChildProcess; line: (text: string) => Promise<void>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [HOLDER, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  let out = "";
  const waiters: Array<[string, () => void]> = [];
  child.stdout!.setEncoding("utf8").on("data", (t: string) => {
    out += t;
    for (const [text, resolve] of waiters) if (out.includes(text + "\n")) resolve();
  });
  const exit = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, exit, line: (text) => new Promise<void>((resolve) => (out.includes(text + "\n") ? resolve() : waiters.push([text, resolve]))) };
}

const semFile = (name: string) => `/dev/shm/sem.${name.replace(/^\//, "")}`;

afterEach(() => {
  for (const c of children) c.kill("SIGKILL");
  children.clear();
  for (const s of opened.splice(0)) s.close();
});

describe("Semaphore", () => {
  it("counts: create with an initial value, tryAcquire, release, value", () => {
    const s = Semaphore.create(uniqueName("ipcs-t-"), { initial: 2 });
    opened.push(s);
    expect(s.value).toBe(2);
    expect(s.tryAcquire()).toBe(true);
    expect(s.tryAcquire()).toBe(true);
    expect(s.tryAcquire()).toBe(false);
    s.release(3);
    expect(s.value).toBe(3);
  });

  it("refuses to create an existing name with EEXIST; open and openOrCreate attach to it", () => {
    const name = uniqueName("ipcs-t-");
    const a = Semaphore.create(name, { initial: 1 });
    opened.push(a);
    expect(() => Semaphore.create(name)).toThrow(expect.objectContaining({ code: "EEXIST", name: "ChannelError" }));
    const b = Semaphore.open(name);
    const c = Semaphore.openOrCreate(name, { initial: 5 });
    opened.push(b, c);
    expect(b.owner).toBe(false);
    expect(c.owner).toBe(false);
    expect(c.value).toBe(1);
    expect(b.tryAcquire()).toBe(true);
    expect(a.value).toBe(0);
  });

  it("rejects malformed names with EINVALIDNAME before any system call", () => {
    for (const bad of ["", "a/b", "..", "x..y", "sp ace", "x".repeat(300)]) {
      expect(() => Semaphore.create(bad), bad).toThrow(expect.objectContaining({ code: "EINVALIDNAME" }));
    }
    expect(() => Semaphore.open("/ipcs-surely-missing-" + process.pid)).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });

  it("acquire({ timeoutMs }) rejects with ETIMEDOUT, and the event loop keeps running meanwhile", async () => {
    const s = Semaphore.create(uniqueName("ipcs-t-"));
    opened.push(s);
    let ticks = 0;
    const interval = setInterval(() => ticks++, 10);
    const t0 = performance.now();
    const err = await s.acquire({ timeoutMs: 300 }).catch((e: unknown) => e);
    clearInterval(interval);
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).code).toBe("ETIMEDOUT");
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1500);
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it("close() ends a pending acquire with ECLOSED at once", async () => {
    const s = Semaphore.create(uniqueName("ipcs-t-"));
    const pending = s.acquire();
    const second = s.acquire({ timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    s.close();
    const [e1, e2] = await Promise.all([pending.catch((e: unknown) => e), second.catch((e: unknown) => e)]);
    expect((e1 as ChannelError).code).toBe("ECLOSED");
    expect((e2 as ChannelError).code).toBe("ECLOSED");
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it("the creator's name exists in /dev/shm while open and is gone after close", () => {
    const name = uniqueName("ipcs-t-");
    const s = Semaphore.create(name);
    expect(existsSync(semFile(name))).toBe(true);
    expect(Semaphore.exists(name)).toBe(true);
    expect(Semaphore.list("ipcs-t-")).toContain("/" + name);
    s.close();
    expect(existsSync(semFile(name))).toBe(false);
    expect(Semaphore.exists(name)).toBe(false);
  });

  it.each(["SIGINT", "SIGTERM"] as const)("the creator removes its name when it is stopped with %s", async (signal) => {
    const name = uniqueName("ipcs-t-");
    const owner = start("own", name);
    await owner.line("created");
    expect(existsSync(semFile(name))).toBe(true);
    owner.child.kill(signal);
    await owner.exit;
    expect(existsSync(semFile(name))).toBe(false);
  });

  it("removeStale removes a name whose creator died and keeps one whose creator lives, whatever pids the names carry", async () => {
    // Names that carry this (live) process's pid: a pid decides nothing.
    const dead = uniqueName("ipcs-t-");
    const live = uniqueName("ipcs-t-");
    const killed = start("own", dead);
    const running = start("own", live);
    await Promise.all([killed.line("created"), running.line("created")]);
    killed.child.kill("SIGKILL"); // SIGKILL skips the creator's own cleanup
    await killed.exit;
    const entries = Semaphore.removeStale({ prefix: "ipcs-t-", minAgeMs: 0 });
    expect(entries).toContainEqual(expect.objectContaining({ name: "/" + dead, outcome: "removed" }));
    expect(entries).toContainEqual(expect.objectContaining({ name: "/" + live, outcome: "kept", reason: "owner alive" }));
    expect(Semaphore.exists(dead)).toBe(false);
    expect(Semaphore.exists(live)).toBe(true);
    Semaphore.remove(dead); // idempotent
  });

  it("create adds the prefix once, so list() sees the name", () => {
    const s = Semaphore.create(`orders-${process.pid}`);
    opened.push(s);
    expect(s.name).toBe(`/ipcs-orders-${process.pid}`);
    expect(Semaphore.list()).toContain(s.name);
    expect(Semaphore.create.bind(null, `ipcs-orders-${process.pid}`)).toThrow(expect.objectContaining({ code: "EEXIST" }));
  });
});

describe("Lock", () => {
  /** A new lock, held by a child process for `ms` once it has printed "held". */
  async function heldElsewhere(ms: number) {
    const name = uniqueName("ipcs-t-");
    const lock = Lock.create(name);
    opened.push(lock);
    const holder = start("lock", name, String(ms));
    await holder.line("held");
    return { lock, holder };
  }

  it("a child process holds the lock; this process's acquire waits, then succeeds after the release", async () => {
    const { lock, holder } = await heldElsewhere(400);
    expect(lock.tryAcquire()).toBe(false);
    let ticks = 0;
    const interval = setInterval(() => ticks++, 10);
    const t0 = performance.now();
    await lock.acquire({ timeoutMs: 5_000 });
    clearInterval(interval);
    const waited = performance.now() - t0;
    expect(lock.held).toBe(true);
    expect(waited).toBeGreaterThan(200);
    expect(ticks).toBeGreaterThan(5);
    await holder.line("released");
    lock.release();
    expect(await holder.exit).toBe(0);
  });

  it("acquire times out with ETIMEDOUT while another process holds it", async () => {
    const { lock, holder } = await heldElsewhere(1500);
    const err = await lock.acquire({ timeoutMs: 200 }).catch((e: unknown) => e);
    expect((err as ChannelError).code).toBe("ETIMEDOUT");
    expect(lock.held).toBe(false);
  });

  it("withLock releases however the function ends; release without holding throws", async () => {
    const lock = Lock.create(uniqueName("ipcs-t-"));
    opened.push(lock);
    expect(await lock.withLock(() => 7)).toBe(7);
    await expect(lock.withLock(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(lock.held).toBe(false);
    expect(lock.semaphore.value).toBe(1);
    expect(() => lock.release()).toThrow(/does not hold/);
  });
});
