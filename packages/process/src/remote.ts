import { createSocket } from "node:dgram";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { ChannelError, type Address, type Receiver, type Transport } from "@ipc-sampler/core";
import { decodeBatch, v8Codec } from "./codec.js";
import { closedError } from "./errors.js";
import { isHello, Link } from "./link.js";
import { getLogger } from "./logging.js";
import type { Scheduler } from "./scheduler.js";
import { awaitReady, type Exit, type WorkerHandle } from "./spawn.js";
import { moduleUrl } from "./target.js";
import { shared } from "./state.js";
import * as W from "./wire.js";

/**
 * Workers on other hosts. The pool listens on one endpoint that every remote
 * worker dials (a multi-producer receiver, told apart by producer index);
 * each worker listens too and says hello with its own address, and the pool
 * connects back to it: two one-way channels per worker, authenticated by the
 * transport (ZeroMQ CURVE keys derived from a shared secret). From then on a
 * remote worker is a slot like a local one, except that it is not replaced or
 * recycled, and "killing" it means closing its link and giving up on it.
 */
export interface RemoteOptions {
  /** A transport that crosses machines: `zeromqTransport` from @ipc-sampler/zeromq. */
  transport: Transport;
  /** Options of the pool's endpoint, e.g. `{ listen: "tcp://10.0.0.1:5555", secret }` (a non-loopback bind needs a secret). */
  listen: Readonly<Record<string, unknown>>;
  /** Options for the way back to each worker (default: `{ secret }` of `listen`). */
  connect?: Readonly<Record<string, unknown>>;
  /** Remote workers Pool.create waits for before it resolves (default 0). */
  workers?: number;
  /** How long Pool.create waits for them, and a worker may take from its hello to ready (default 30 000 ms). */
  readyTimeoutMs?: number;
  /**
   * Pool and worker send each other a heartbeat this often (default 1000 ms)
   * and give the other up after `silenceMs` without a word (default 15 000
   * ms): a host whose network goes away sends no FIN, so nothing else would
   * tell. A task that blocks its worker's event loop for longer is taken
   * for a lost worker.
   */
  heartbeatMs?: number;
  silenceMs?: number;
}

/** The pool's handle on a worker of another host. */
class RemoteWorker implements WorkerHandle {
  readonly remote = true;
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  private resolveExit!: (exit: Exit) => void;
  constructor(readonly name: string, readonly pid: number | undefined, readonly link: Link) {
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    link.onEnd = (error) => this.ended(error);
  }

  /** Its link ended: closed by the worker (undefined), or lost (the transport's error). */
  ended(error: unknown): void {
    if (this.exit) return;
    this.exit = error === undefined ? { code: 0, signal: null } : { code: null, signal: null, lost: (error as Error)?.message ?? String(error) };
    void this.link.close();
    this.resolveExit(this.exit);
  }

  /** No signal reaches another host: SIGTERM closes its link (the worker stops after its task), SIGKILL gives up on it now. */
  kill(signal: NodeJS.Signals): void {
    if (signal === "SIGKILL") this.ended(new ChannelError("EPEERGONE", `${this.name} did not stop after its link was closed: given up`));
    else void this.link.close();
  }
}

interface Peer {
  link?: Link;
  worker?: RemoteWorker;
  /** Messages that came after the hello, before the way back was connected. */
  early: unknown[][];
  connecting: boolean;
  lastHeard: number;
  gone: boolean;
}

export class RemoteEndpoint {
  private readonly peers = new Map<number, Peer>();
  private ready = 0;
  private count = 0;
  private waiters: Array<() => void> = [];
  private closed = false;
  private beat: NodeJS.Timeout | undefined;
  private readonly log = getLogger();

  private constructor(private readonly options: RemoteOptions, private readonly scheduler: Scheduler, private readonly receiver: Receiver, private readonly prefix: string) {}

  static async listen(options: RemoteOptions, scheduler: Scheduler, prefix = "RemoteWorker"): Promise<RemoteEndpoint> {
    for (const k of ["heartbeatMs", "silenceMs", "readyTimeoutMs"] as const) {
      const v = options[k];
      if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new RangeError(`remote.${k} must be a positive integer (ms), got ${v}`);
    }
    if (silenceMs(options) <= heartbeatMs(options)) throw new RangeError("remote.silenceMs must be longer than remote.heartbeatMs");
    if (!options.transport.descriptor.crossesMachines) throw new TypeError(`the ${options.transport.descriptor.id} transport does not cross machines: use zeromqTransport for remote workers`);
    let endpoint: RemoteEndpoint | undefined;
    // Open-ended: workers come and go; the endpoint ends only when the pool closes it.
    const receiver = await options.transport.listen({ ...options.listen, expectedProducers: 2 ** 30, onPeerLost: (e) => endpoint?.lost(e) });
    endpoint = new RemoteEndpoint(options, scheduler, receiver, prefix);
    void endpoint.pump();
    endpoint.beat = setInterval(() => endpoint!.heartbeat(), heartbeatMs(options));
    endpoint.beat.unref();
    return endpoint;
  }

  /** What a worker dials (`ipc-sampler worker --connect <endpoint>`). */
  get address(): Address {
    return this.receiver.address;
  }

  /** Remote workers attached and ready now. */
  get workers(): number {
    let n = 0;
    for (const p of this.peers.values()) if (p.worker && !p.worker.exit) n++;
    return n;
  }

  /** Resolves once `n` remote workers have become ready since the pool started; ETIMEDOUT after `timeoutMs`. */
  waitFor(n: number, timeoutMs = this.options.readyTimeoutMs ?? 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.ready < n && !this.closed) return false;
        clearTimeout(timer);
        if (this.ready >= n) resolve();
        else reject(closedError("this pool"));
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        reject(new ChannelError("ETIMEDOUT", `${this.ready} of ${n} remote workers connected to ${JSON.stringify(this.address)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const wake = () => void check();
      if (!check()) this.waiters.push(wake);
    });
  }

  /** Beats to every attached worker; gives up the ones silent past silenceMs. */
  private heartbeat(): void {
    const now = performance.now();
    const silence = silenceMs(this.options);
    for (const peer of this.peers.values()) {
      if (!peer.link || peer.gone) continue;
      if (now - peer.lastHeard > silence) this.drop(peer, new ChannelError("EPEERGONE", `${peer.worker?.name ?? "a remote worker"} was not heard from for ${silence} ms`));
      else {
        try {
          peer.link.write([W.BEAT]);
        } catch {
          // its end is going away: reported by the transport
        }
      }
    }
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async pump(): Promise<void> {
    try {
      for await (const batch of this.receiver.batches()) {
        let peer = this.peers.get(batch.producer);
        if (!peer) this.peers.set(batch.producer, (peer = { early: [], connecting: false, gone: false, lastHeard: 0 }));
        if (peer.gone) continue;
        peer.lastHeard = performance.now();
        let values: unknown[];
        try {
          values = decodeBatch(batch, v8Codec);
        } catch (err) {
          this.drop(peer, err);
          continue;
        }
        if (peer.link) {
          this.take(peer, values);
          continue;
        }
        if (peer.connecting) peer.early.push(...(values as unknown[][]));
        else if (values.length > 0 && isHello(values[0]) && !this.closed) {
          peer.connecting = true;
          peer.early.push(...(values.slice(1) as unknown[][]));
          void this.admit(peer, values[0].$hello);
        } else this.drop(peer, new ChannelError("EPROTO", `remote worker ${batch.producer} did not begin with its hello`, { producer: batch.producer }));
      }
    } catch (err) {
      this.log.warning(`the endpoint for remote workers failed: ${(err as Error)?.message ?? err}`);
    }
    this.closed = true;
    for (const p of this.peers.values()) this.drop(p, closedError("the endpoint for remote workers"));
    this.notify();
  }

  /** A BYE is the worker closing its side; anything else goes to the scheduler. */
  private take(peer: Peer, values: unknown[]): void {
    const bye = values.findIndex((m) => Array.isArray(m) && m[0] === W.BYE);
    if (bye < 0) return peer.link!.deliver(values);
    if (bye > 0) peer.link!.deliver(values.slice(0, bye));
    peer.gone = true;
    peer.link!.end(undefined);
  }

  private lost(error: ChannelError): void {
    const peer = error.producer === undefined ? undefined : this.peers.get(error.producer);
    if (peer) this.drop(peer, error);
  }

  private drop(peer: Peer, error: unknown): void {
    if (peer.gone && !peer.link) return;
    peer.gone = true;
    if (peer.link) peer.link.end(error);
  }

  private async admit(peer: Peer, address: Address): Promise<void> {
    const transport = this.options.transport;
    const connect = this.options.connect ?? (this.options.listen.secret !== undefined ? { secret: this.options.listen.secret } : {});
    const timeoutMs = this.options.readyTimeoutMs ?? 30_000;
    let link: Link;
    try {
      link = Link.attached(transport, await transport.connect(address, { ...connect, timeoutMs }), v8Codec);
    } catch (err) {
      peer.gone = true;
      this.log.warning(`cannot reach a remote worker back at ${JSON.stringify(address)}: ${(err as Error)?.message ?? err}`);
      return;
    }
    if (peer.gone || this.closed) return void link.close();
    peer.link = link;
    const name = `${this.prefix}-${++this.count}`;
    const { onMessage, adopt } = this.scheduler.attach(name);
    const timer = setTimeout(() => this.drop(peer, new ChannelError("ETIMEDOUT", `${name} did not get ready within ${timeoutMs} ms`)), timeoutMs);
    link.onEnd = (error) => {
      clearTimeout(timer);
      if (!peer.worker) {
        void link.close();
        if (error !== undefined) this.log.warning(`remote worker ${name} left before it was ready: ${(error as Error)?.message ?? error}`);
      }
    };
    awaitReady(link, onMessage, (err, pid) => {
      clearTimeout(timer);
      if (err !== undefined) {
        this.log.warning(`remote worker ${name} could not start: ${(err as Error)?.message ?? err}`);
        return this.drop(peer, err);
      }
      if (peer.gone) return;
      peer.worker = new RemoteWorker(name, pid, link);
      adopt(peer.worker);
      this.ready++;
      this.notify();
    });
    link.write([W.INIT, { ...this.scheduler.init, heartbeatMs: heartbeatMs(this.options), silenceMs: silenceMs(this.options) }]);
    const early = peer.early;
    peer.early = [];
    if (early.length > 0) this.take(peer, early);
  }

  /** Stops accepting workers; the ones attached end with their links. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.beat);
    this.notify();
    await this.receiver.close().catch(() => {});
  }
}

function heartbeatMs(o: RemoteOptions): number {
  return o.heartbeatMs ?? 1000;
}
function silenceMs(o: RemoteOptions): number {
  return o.silenceMs ?? 15_000;
}

/** This host's address on the route to `host` (no packet is sent: a UDP socket only picks its source). */
export async function localAddressToward(host: string): Promise<string> {
  const socket = createSocket(isIP(host) === 6 ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(9, host, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}

export interface WorkerOptions {
  /** The pool's address (Pool's `remoteAddress`), or for ZeroMQ its endpoint `tcp://host:port`. */
  connect: Address | string;
  /** The transport the pool listens on (zeromqTransport). */
  transport: Transport;
  /** The pool's shared secret. */
  secret?: string | undefined;
  /** This worker's own endpoint, which the pool connects back to (default `tcp://<this host's address toward the pool>:0`). */
  listen?: string | undefined;
  /** This host's copy of the pool's module, when it is not at the same path (path or URL). */
  module?: string | undefined;
  name?: string | undefined;
  /** How long to wait for the pool (default 10 000 ms). */
  timeoutMs?: number | undefined;
}

/**
 * Serves a pool on another host from this process until the pool closes the
 * link (then it exits 0) or is lost (exit 1). Python's equivalent is a
 * `BaseManager` client process; here it is the same worker program a local
 * pool starts, dialing over the network.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  let parent: Address;
  if (typeof options.connect === "string") {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(options.connect);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new TypeError(`--connect takes tcp://host:port, got ${options.connect}`);
    parent = { transport: options.transport.descriptor.id, endpoint: options.connect, maxMessageSize: options.transport.descriptor.maxMessageSize, ...(options.secret !== undefined ? { curve: true } : {}) };
  } else parent = options.connect;
  const endpoint = typeof parent.endpoint === "string" ? parent.endpoint : "";
  const host = /^tcp:\/\/\[?([^\]]+?)\]?:\d+$/.exec(endpoint)?.[1];
  const listen = options.listen ?? (host ? `tcp://${await localAddressToward(host)}:0` : "tcp");
  const secret = options.secret !== undefined ? { secret: options.secret } : {};
  const remote: W.RemoteBoot = {
    listen: { listen, ...secret },
    connect: secret,
    timeoutMs,
    module: options.module === undefined ? undefined : moduleUrl(isAbsolute(options.module) || /^[a-z]+:/.test(options.module) ? options.module : resolve(options.module)),
  };
  const boot: W.Boot = {
    parent,
    transport: { module: "", export: options.transport.descriptor.id }, // not loaded: the transport is handed over in this process

    name: options.name ?? `Worker@${hostname()}-${process.pid}`,
    daemon: false,
    ppid: process.ppid,
    remote,
  };
  shared().transport = options.transport;
  process.env[W.BOOT_ENV] = JSON.stringify(boot);
  await import("./child.js");
}
