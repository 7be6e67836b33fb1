import type { Transport } from "@ipc-sampler/core";
import { native } from "@ipc-sampler/posix";
import { v8Codec } from "./codec.js";
import { abortError, encodeError } from "./errors.js";
import { Link } from "./link.js";
import { getLogger } from "./logging.js";
import { reviveArgs } from "./pipe.js";
import { shared } from "./state.js";
import { FunctionTable, loadFunction, loadModule, type AnyFunction } from "./target.js";
import { loadTransport } from "./transport.js";
import * as W from "./wire.js";

/**
 * The program every Process and pool worker runs. It ties its life to the
 * parent's, dials the parent's link, then either runs one target and exits
 * (Process) or serves tasks one at a time until told to stop (worker).
 */
const boot = JSON.parse(process.env[W.BOOT_ENV] ?? "null") as W.Boot | null;
if (!boot) {
  process.stderr.write("this program is started by @ipc-sampler/process, not by hand\n");
  process.exit(2);
}
delete process.env[W.BOOT_ENV];
const state = shared();
state.info = { name: boot.name, pid: process.pid, daemon: boot.daemon, parentPid: boot.ppid };
state.logLevel = boot.logLevel;
const log = getLogger();

// A daemonic child dies with its parent, even a SIGKILLed one. If the parent
// died before prctl ran we were reparented already: exit now.
if (boot.daemon) {
  let armed = false;
  try {
    armed = native().setParentDeathSignal(15, boot.ppid);
  } catch (err) {
    log.warning(`cannot tie this process to its parent (${(err as Error).message}); watching the parent pid instead`);
    setInterval(() => process.ppid !== boot.ppid && process.exit(1), 500).unref();
    armed = process.ppid === boot.ppid;
  }
  if (!armed) process.exit(1);
}

let link: Link;
let processMode = false;
let reportRss = false;

let exiting: Promise<never> | undefined;
function closeAndExit(code: number): Promise<never> {
  exiting ??= exitNow(code);
  return exiting;
}

async function exitNow(code: number): Promise<never> {
  log.info("process shutting down");
  if (boot!.remote) tryWrite([W.BYE]);
  log.info(`process exiting with exitcode ${code}`);
  await Promise.race([link.close().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
  process.exit(code);
}

function tryWrite(message: unknown[]): boolean {
  try {
    return link.write(message);
  } catch {
    return true; // the parent went away or closed its end: nothing to tell it
  }
}

async function runProcess(init: W.Init): Promise<void> {
  let target: AnyFunction;
  try {
    target = await loadFunction(init.module, init.export ?? "");
  } catch (err) {
    tryWrite([W.INIT_FAILED, encodeError(err)]);
    return closeAndExit(1);
  }
  tryWrite([W.READY, process.pid]);
  // READY must leave before a target that never yields blocks the loop.
  await link.drain().catch(() => {});
  await new Promise((r) => setImmediate(r));
  log.info("child process calling the target");
  let code = 0;
  try {
    await target(...reviveArgs(init.args ?? []));
  } catch (err) {
    code = 1;
    process.stderr.write(`Process ${boot!.name}:\n${(err as Error)?.stack ?? String(err)}\n`);
    tryWrite([W.TARGET_FAILED, encodeError(err)]);
  }
  return closeAndExit(code);
}

// ---- worker -------------------------------------------------------------------

/** receivedAt: when the message carrying it was read (performance.now()), for the parent's transport latency. */
type Task = [tag: number, id: number, fn: W.FunctionRef, mode: W.TaskMode, payload: unknown, receivedAt: number];
let table: FunctionTable | undefined;
const queue: Array<Task | undefined> = [];
let head = 0;
let running = false;
let stopping = false;
const abortedEarly = new Set<number>();
let currentId = -1;
let controller: AbortController | undefined;
state.taskSignal = () => (controller ??= new AbortController()).signal;

async function initWorker(init: W.Init): Promise<void> {
  try {
    await loadModule(init.module);
    table = new FunctionTable(init.module);
    if (init.initializer) await (await table.resolve(init.initializer))(...(init.initargs ?? []));
  } catch (err) {
    tryWrite([W.INIT_FAILED, encodeError(err)]);
    return closeAndExit(1);
  }
  tryWrite([W.READY, process.pid]);
  pump();
}

// Results are coalesced into few writes. Before a task that might not yield
// (one whose function has not proven quick) they are flushed, so a task that
// hangs never holds back the results of those before it.
const QUICK_MS = 0.05;
const quick = new Map<string, number>();
let unflushed = false;

function keyOf(ref: W.FunctionRef): string {
  return typeof ref === "string" ? ref : `${ref[0]}#${ref[1]}`;
}

// Results of one run of tasks go back as one RESULTS message (one encode
// for many); if it cannot be encoded, one by one, so only the bad one fails.
const MAX_BATCH = 1024;
let outIds: number[] = [];
let outOks: number[] = [];
let outValues: unknown[] = [];
let outAt: number[] = [];

function flushResults(): void {
  const ids = outIds;
  const oks = outOks;
  const values = outValues;
  const at = outAt;
  if (ids.length === 0) return;
  outIds = [];
  outOks = [];
  outValues = [];
  outAt = [];
  // Milliseconds each task spent here, from its message being read to its
  // result leaving: the parent subtracts it from the round trip.
  const now = performance.now();
  const spent = new Float64Array(ids.length);
  for (let i = 0; i < ids.length; i++) spent[i] = now - at[i]!;
  unflushed = true;
  if (reportRss) tryWrite([W.RSS, process.memoryUsage.rss()]);
  if (ids.length > 1) {
    try {
      link.write([W.RESULTS, ids, oks, values, spent]);
      return;
    } catch {
      // one by one below
    }
  }
  for (let i = 0; i < ids.length; i++) {
    try {
      link.write([oks[i] === 1 ? W.RESULT : W.ERROR, ids[i], values[i], spent[i]]);
    } catch (err) {
      tryWrite([W.ERROR, ids[i], encodeError(err)]);
    }
  }
}

function finish(id: number, value: unknown, receivedAt: number): void {
  outIds.push(id);
  outOks.push(1);
  outValues.push(value);
  outAt.push(receivedAt);
  if (outIds.length >= MAX_BATCH) flushResults();
}

function fail(id: number, err: unknown, receivedAt: number): void {
  outIds.push(id);
  outOks.push(0);
  outValues.push(encodeError(err));
  outAt.push(receivedAt);
  if (outIds.length >= MAX_BATCH) flushResults();
}

/** Runs one task: undefined when it finished synchronously, else the promise of its end. */
function run(task: Task, f: AnyFunction): Promise<void> | undefined {
  const [, id, , mode, payload, at] = task;
  currentId = id;
  controller = undefined;
  let out: unknown;
  try {
    if (mode === W.APPLY) out = f(...(payload as unknown[]));
    else {
      const items = payload as ArrayLike<unknown>;
      const results = new Array<unknown>(items.length);
      let async = false;
      let numbers = true;
      for (let i = 0; i < items.length; i++) {
        const r = mode === W.MAP ? f(items[i]) : f(...(items[i] as unknown[]));
        if (r instanceof Promise) async = true;
        else if (typeof r !== "number") numbers = false;
        results[i] = r;
      }
      // Numbers for numbers: a Float64Array goes back as one copy.
      out = async ? Promise.all(results) : numbers && payload instanceof Float64Array ? Float64Array.from(results as number[]) : results;
    }
  } catch (err) {
    fail(id, err, at);
    return undefined;
  }
  if (!(out instanceof Promise)) {
    finish(id, out, at);
    return undefined;
  }
  return out.then(
    (v) => finish(id, v, at),
    (e) => fail(id, e, at),
  );
}

function pump(): void {
  if (running || !table) return;
  running = true;
  while (head < queue.length) {
    const task = queue[head]!;
    queue[head++] = undefined;
    if (abortedEarly.delete(task[1])) {
      fail(task[1], abortError(`task ${task[1]}`), task[5]);
      continue;
    }
    const key = keyOf(task[2]);
    if ((unflushed || outIds.length > 0) && !((quick.get(key) ?? Infinity) < QUICK_MS)) {
      flushResults();
      unflushed = false;
      link.drain().catch(() => {});
    }
    const f = table.cached(task[2]);
    const t0 = performance.now();
    const pending = f ? run(task, f) : table.resolve(task[2]).then((g) => run(task, g), (err) => fail(task[1], err, task[5]));
    if (!pending) quick.set(key, performance.now() - t0);
    if (pending) {
      quick.delete(key);
      flushResults();
      void pending.then(() => {
        running = false;
        pump();
      });
      return;
    }
  }
  flushResults();
  queue.length = 0;
  head = 0;
  currentId = -1;
  running = false;
  if (stopping) void closeAndExit(0);
}

// A worker on another host: beats to its pool and gives it up after its silence limit.
let lastHeard = performance.now();
function watchPool(heartbeatMs: number, silenceMs: number): void {
  setInterval(() => {
    if (performance.now() - lastHeard > silenceMs) {
      process.stderr.write(`${boot!.name}: the pool was not heard from for ${silenceMs} ms\n`);
      void closeAndExit(1);
    } else tryWrite([W.BEAT]);
  }, heartbeatMs).unref();
}

function onMessages(values: unknown[]): void {
  const at = performance.now();
  lastHeard = at;
  for (const m of values as unknown[][]) {
    switch (m[0]) {
      case W.TASK:
        m[5] = at;
        queue.push(m as Task);
        break;
      case W.TASKS: {
        const [, ids, fns, modes, payloads] = m as [number, number[], W.FunctionRef[], W.TaskMode[], unknown[]];
        for (let i = 0; i < ids.length; i++) queue.push([W.TASK, ids[i]!, fns[i]!, modes[i]!, payloads[i], at]);
        break;
      }
      case W.ABORT:
        if (m[1] === currentId) (controller ??= new AbortController()).abort(abortError(`task ${m[1]}`));
        else abortedEarly.add(m[1] as number);
        break;
      case W.STOP:
        stopping = true;
        break;
      case W.INIT: {
        // A worker on another host may keep its copy of the pool's module elsewhere.
        const given = m[1] as W.Init;
        const init = boot!.remote?.module !== undefined ? { ...given, module: boot!.remote.module } : given;
        processMode = init.mode === "process";
        reportRss = init.reportRss === true;
        const beat = init.heartbeatMs;
        const silence = init.silenceMs;
        if (boot!.remote && typeof beat === "number" && typeof silence === "number" && beat >= 10 && silence > beat) watchPool(beat, silence);
        if (processMode) void runProcess(init);
        else void initWorker(init);
        break;
      }
    }
  }
  pump();
}

async function main(): Promise<void> {
  const transport = (state.transport as Transport | undefined) ?? (await loadTransport(boot!.transport));
  const remote = boot!.remote;
  link = remote ? await Link.dial(transport, boot!.parent, v8Codec, remote.timeoutMs, { listen: remote.listen, connect: remote.connect, oneWay: true }) : await Link.dial(transport, boot!.parent, v8Codec);
  // The transport may have installed SIGINT/SIGTERM handlers to remove what it
  // created; a handler runs only when the event loop is free, so a target stuck
  // in a loop would never end. Signals keep their default action here, and the
  // parent removes what a killed child leaves (removeStale).
  process.removeAllListeners("SIGTERM");
  process.removeAllListeners("SIGINT");
  link.onMessages = onMessages;
  // A worker whose parent closed the link has nothing left to do.
  // One on another host says goodbye first, so its pool need not wait for silence.
  link.onEnd = (error) => {
    if (remote && error !== undefined) process.stderr.write(`${boot!.name}: lost the pool: ${(error as Error)?.message ?? error}\n`);
    if (remote) void closeAndExit(error === undefined ? 0 : 1);
    else if (!processMode) process.exit(0);
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`${boot.name}: cannot reach the parent process: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
});
