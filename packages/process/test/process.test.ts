import { afterAll, describe, expect, it } from "vitest";
import { Process } from "../dist/index.js";
import { QuotaError } from "./fixtures/tasks.mjs";
import { alive, killAll, runScript, tasks, track, until } from "./helpers.js";

afterAll(killAll);

function proc(target: string, args: unknown[] = [], extra: object = {}) {
  const p = new Process({ module: tasks, target, args, ...extra });
  return p;
}

describe.concurrent("Process", () => {
  it("starts, reports pid and isAlive, joins with exit code 0", async () => {
    const p = proc("sleep", [100]);
    expect(p.name).toMatch(/^Process-\d+$/);
    expect(p.exitCode).toBeNull();
    await p.start();
    track(p.pid);
    expect(p.isAlive()).toBe(true);
    expect(await p.join()).toBe(0);
    expect(p.isAlive()).toBe(false);
    expect(p.exitCode).toBe(0);
  });

  it("exitCode is the code, or minus the signal for terminate/kill", async () => {
    const a = proc("exitWith", [3]);
    const b = proc("forever");
    const c = proc("forever");
    await Promise.all([a.start(), b.start(), c.start()]);
    [a, b, c].forEach((x) => track(x.pid));
    b.terminate();
    c.kill();
    expect(await a.join()).toBe(3);
    expect(await b.join()).toBe(-15);
    expect(await c.join()).toBe(-9);
  });

  it("a missing module or export fails start() naming it", async () => {
    await expect(new Process({ module: new URL("./fixtures/nope.mjs", import.meta.url), target: "x" }).start()).rejects.toThrow(/nope\.mjs/);
    await expect(proc("noSuchExport").start()).rejects.toThrow(/no exported function named noSuchExport/);
    await expect(proc("notAFunction").start()).rejects.toThrow(/notAFunction \(it exports a number\)/);
  });

  it("the target's exception reaches the parent as its own class, with stack, cause and fields", async () => {
    const p = proc("failQuota");
    await p.start();
    track(p.pid);
    expect(await p.join()).toBe(1);
    const err = p.error as QuotaError;
    expect(err).toBeInstanceOf(QuotaError);
    expect(err.message).toBe("over quota");
    expect(err.limit).toBe(10);
    expect(err.stack).toMatch(/at failQuota .*tasks\.mjs/);
  });

  it("join with a timeout rejects ETIMEDOUT and leaves the child running; an aborted signal gives AbortError", async () => {
    const p = proc("forever");
    await p.start();
    track(p.pid);
    await expect(p.join({ timeoutMs: 100 })).rejects.toMatchObject({ code: "ETIMEDOUT" });
    expect(p.isAlive()).toBe(true);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(p.join({ signal: ac.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(p.isAlive()).toBe(true);
    p.kill();
    expect(await p.join()).toBe(-9);
  });

  it("a daemonic child dies with a parent that is SIGKILLed", async () => {
    const s = runScript(new URL("./fixtures/orphan.mjs", import.meta.url), ["daemon-sigkill"]);
    const pid = Number((await s.line(/^child \d+/)).split(" ")[1]);
    track(pid);
    expect(alive(pid)).toBe(true);
    s.child.kill("SIGKILL");
    expect(await until(() => !alive(pid), 3000)).toBe(true);
  });

  it.each(["throw", "exit", "SIGTERM", "SIGINT"])("no child is left running when the parent ends by %s", async (how) => {
    const s = runScript(new URL("./fixtures/orphan.mjs", import.meta.url), [how.startsWith("SIG") ? "signal" : how]);
    const pid = Number((await s.line(/^child \d+/)).split(" ")[1]);
    track(pid);
    if (how.startsWith("SIG")) s.child.kill(how as NodeJS.Signals);
    await new Promise((r) => s.child.once("exit", r));
    expect(await until(() => !alive(pid), 3000)).toBe(true);
  });
});
