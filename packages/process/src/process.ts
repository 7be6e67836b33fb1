import { ChannelError } from "@ipc-sampler/core";
import { abortError, decodeError, exitCodeOf, timedOut } from "./errors.js";
import { getLogger } from "./logging.js";
import { transferArgs } from "./pipe.js";
import { nextName } from "./state.js";
import { spawnChild, type Spawned } from "./spawn.js";
import { moduleUrl, type ModuleRef } from "./target.js";
import type { TransportChoice } from "./transport.js";
import * as W from "./wire.js";

export interface ProcessOptions extends TransportChoice {
  /** The module the target is exported from: import.meta.url, a file URL or an absolute path. */
  module: ModuleRef;
  /** Name of the exported function to run. */
  target: string;
  /** Arguments, sent with V8's structured clone. */
  args?: readonly unknown[];
  /** Default `Process-N`. */
  name?: string;
  /**
   * A daemonic child is SIGTERMed when this process exits and dies with it
   * even when it is SIGKILLed; it does not keep this process alive.
   */
  daemon?: boolean;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * multiprocessing.Process: one target function run in a new Node process.
 * `start()` resolves once the child has loaded the target (a missing module or
 * export rejects it, naming them). The target's exception arrives as `error`,
 * rebuilt with its class, stack, cause and fields.
 */
export class Process {
  readonly name: string;
  readonly daemon: boolean;
  /** The target's exception, once the child reported it (not for daemonic children). */
  error: unknown;
  private spawned: Spawned | undefined;
  private starting = false;

  constructor(private readonly options: ProcessOptions) {
    if (typeof options.target !== "string" || options.target.length === 0) throw new TypeError("Process needs target: the name of an exported function");
    moduleUrl(options.module);
    this.name = options.name ?? nextName("Process");
    this.daemon = options.daemon ?? false;
  }

  async start(): Promise<void> {
    if (this.starting) throw new Error(`${this.name} can only be started once`);
    this.starting = true;
    const o = this.options;
    const init: W.Init = { mode: "process", module: moduleUrl(o.module), export: o.target, args: transferArgs(o.args ?? []) };
    this.spawned = await spawnChild({ ...o, name: this.name, daemon: this.daemon, init }, (m) => {
      if (m[0] === W.TARGET_FAILED) this.error = decodeError(m[1]);
    });
    // The child needs nothing more from us. A daemon keeps nothing of ours
    // alive (its error is printed by the child, not reported here).
    if (this.daemon) {
      this.spawned.child.unref();
      void this.spawned.link.close();
    }
  }

  get pid(): number | undefined {
    return this.spawned?.pid;
  }

  /** Python's exitcode: null while running (or not started), the code, or minus the signal number. */
  get exitCode(): number | null {
    const e = this.spawned?.exit;
    return e ? exitCodeOf(e.code, e.signal) : null;
  }

  isAlive(): boolean {
    return this.spawned !== undefined && this.spawned.exit === undefined;
  }

  /**
   * Waits for the child to end; resolves to its exit code. A timeout that
   * passes rejects with ETIMEDOUT, an aborted signal with AbortError; either
   * leaves the child running.
   */
  async join(options: WaitOptions = {}): Promise<number | null> {
    const s = this.spawned;
    if (!s) throw new ChannelError("ECLOSED", `cannot join ${this.name}: it was not started`);
    getLogger().info(`calling join() for process ${this.name}`);
    const { timeoutMs, signal } = options;
    if (signal?.aborted) throw abortError(`join of ${this.name}`, signal.reason);
    if (s.exit) {
      await s.exited;
      return this.exitCode;
    }
    await new Promise<void>((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish(timedOut(`${this.name}`, timeoutMs)), timeoutMs);
      const onAbort = () => finish(abortError(`join of ${this.name}`, signal?.reason));
      signal?.addEventListener("abort", onAbort, { once: true });
      function finish(err?: unknown): void {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      }
      void s.exited.then(() => finish());
    });
    // Let the link deliver what the child said before it exited.
    await Promise.race([s.linkDone, new Promise((r) => setTimeout(r, 500).unref())]);
    return this.exitCode;
  }

  /** SIGTERM. */
  terminate(): void {
    this.spawned?.kill("SIGTERM");
  }

  /** SIGKILL. */
  kill(): void {
    this.spawned?.kill("SIGKILL");
  }
}
