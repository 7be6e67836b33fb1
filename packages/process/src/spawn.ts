import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { ChannelError, removeOnExit, type Transport } from "@ipc-sampler/core";
import { v8Codec } from "./codec.js";
import { decodeError } from "./errors.js";
import { Link } from "./link.js";
import { shared } from "./state.js";
import { defaultTransport, transportSource, type TransportChoice } from "./transport.js";
import * as W from "./wire.js";

/**
 * Starts the child program with its link, and makes sure it never outlives
 * this process: on exit, on an uncaught exception and on SIGINT/SIGTERM every
 * child still running is SIGKILLed (a task stuck in a loop ignores anything
 * gentler). Daemonic children also die with a parent that is SIGKILLed
 * (PR_SET_PDEATHSIG, armed by the child).
 */
export interface SpawnOptions extends TransportChoice {
  name: string;
  daemon: boolean;
  init: W.Init;
  /** Node flags for the child (default: this process's, without --inspect). */
  execArgv?: string[] | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  /** How long the child may take to load and answer (default 30 000 ms). */
  startTimeoutMs?: number | undefined;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** A worker on another host: why its link was lost. */
  readonly lost?: string | undefined;
}

const CHILD_PROGRAM = path.join(__dirname, "child.js");

/** What a pool needs of a worker: a child it started (Spawned), or one on another host (RemoteWorker). */
export interface WorkerHandle {
  readonly name: string;
  readonly link: Link;
  /** Resolves when the worker has ended (process exit, or a remote worker's link lost or closed). */
  readonly exited: Promise<Exit>;
  readonly exit: Exit | undefined;
  readonly pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
  /** On another host: not replaced when it ends, not recycled, stopped by closing its link. */
  readonly remote?: boolean;
}

/**
 * Hands the link's messages to `onMessage` once READY came; `done` settles
 * with nothing on READY, with the worker's own error on INIT_FAILED.
 */
export function awaitReady(link: Link, onMessage: (m: unknown[]) => void, done: (err?: unknown, pid?: number) => void): void {
  link.onMessages = (values) => {
    for (const m of values as unknown[][]) {
      if (m[0] === W.READY) {
        link.onMessages = (rest) => {
          for (const r of rest as unknown[][]) onMessage(r);
        };
        done(undefined, typeof m[1] === "number" ? m[1] : undefined);
      } else if (m[0] === W.INIT_FAILED) done(decodeError(m[1]));
      else onMessage(m);
    }
  };
}

export class Spawned implements WorkerHandle {
  /** Resolves when the child process has exited. */
  readonly exited: Promise<Exit>;
  /** Resolves when the child's channel to us has ended (everything it sent has arrived). */
  readonly linkDone: Promise<void>;
  exit: Exit | undefined;
  private unregister: () => void;
  constructor(readonly child: ChildProcess, readonly link: Link, readonly name: string, transport: Transport) {
    this.linkDone = new Promise((resolve) => (link.onEnd = () => resolve()));
    this.unregister = removeOnExit(() => {
      if (this.exit === undefined) child.kill("SIGKILL");
    });
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        this.unregister();
        // Its last messages (READY, a result, INIT_FAILED) may still be in the
        // kernel when the exit is reported: read the link to its end (bounded,
        // as everywhere a child's exit is awaited) before closing it, or they
        // are dropped with it.
        void Promise.race([this.linkDone, new Promise((r) => setTimeout(r, 500).unref())]).then(() => link.close());
        // A child killed by a signal could not remove what it created (its
        // socket file, queue, …): no live process holds their owner lock any
        // more, so removeStale finds them (minAgeMs 0: the child is known dead).
        if (signal !== null) void (transport.named ? transport.named.removeStale({ minAgeMs: 0 }) : transport.removeStale?.())?.catch(() => {});
        resolve(this.exit);
      });
    });
  }
  get pid(): number | undefined {
    return this.child.pid;
  }
  kill(signal: NodeJS.Signals): void {
    if (this.exit === undefined) this.child.kill(signal);
  }
}

/** Spawns and waits for READY: rejects with the child's own error (missing module, export, initializer failure). */
export async function spawnChild(options: SpawnOptions, onMessage: (m: unknown[]) => void): Promise<Spawned> {
  const transport = options.transport ?? defaultTransport;
  const source = transportSource(options);
  const link = await Link.listen(transport, v8Codec);
  const boot: W.Boot = { parent: link.address, transport: source, name: options.name, daemon: options.daemon, ppid: process.pid, logLevel: shared().logLevel };
  const execArgv = options.execArgv ?? process.execArgv.filter((a) => !a.startsWith("--inspect"));
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...execArgv, CHILD_PROGRAM], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...(options.env ?? process.env), [W.BOOT_ENV]: JSON.stringify(boot) },
    });
  } catch (err) {
    await link.close();
    throw err;
  }
  const spawned = new Spawned(child, link, options.name, transport);
  link.write([W.INIT, options.init]);
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      spawned.kill("SIGKILL");
      reject(new ChannelError("ETIMEDOUT", `${options.name} did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (err?: unknown) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    awaitReady(link, onMessage, done);
    child.once("error", (err) => done(new ChannelError("ESYSCALL", `cannot start ${options.name}: ${err.message}`, { cause: err })));
    // A child that exits at once may have said READY just before: read what it sent first.
    void spawned.exited.then(async (e) => {
      await Promise.race([spawned.linkDone, new Promise((r) => setTimeout(r, 500))]);
      done(new ChannelError("EPEERGONE", `${options.name} exited before it was ready (${e.signal ?? `code ${e.code}`})`));
    });
  });
  return spawned;
}
