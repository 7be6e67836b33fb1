import { ChannelError, type Address } from "@ipc-sampler/core";
import { jsonCodec, v8Codec, type Codec } from "./codec.js";
import { abortError, closedError, timedOut } from "./errors.js";
import { Link } from "./link.js";
import { defaultTransport, loadTransport, transportSource, type TransportChoice, type TransportSource } from "./transport.js";

/**
 * multiprocessing.Pipe: two connected ends, each can send and receive.
 * One end listens at once; the other attaches on first use, in this process
 * or, when passed as an argument to a Process, in the child (it crosses as
 * its peer's address). Over any transport the two directions are two one-way
 * channels, as the notes describe for pipes and FIFOs.
 */
export interface PipeOptions extends TransportChoice {
  /** v8Codec (default) or jsonCodec; each message is one object. */
  codec?: Codec;
}

interface EndSpec {
  readonly $pipeEnd: { readonly peer: Address; readonly transport: TransportSource; readonly codec: string };
}

export class Connection<T = unknown> {
  private link: Link | undefined;
  private binding: Promise<Link> | undefined;
  private readonly inbox: T[] = [];
  private inboxHead = 0;
  private waiter: (() => void) | undefined;
  private ended = false;
  private endError: unknown;
  private isClosed = false;
  private transferred = false;

  /** @internal */
  constructor(link: Link | undefined, private readonly bind?: () => Promise<Link>, private readonly spec?: EndSpec["$pipeEnd"]) {
    if (link) this.attach(link);
  }

  private attach(link: Link): Link {
    this.link = link;
    link.onMessages = (values) => {
      for (const v of values) this.inbox.push(v as T);
      this.wake();
    };
    link.onEnd = (error) => {
      this.ended = true;
      this.endError = error;
      this.wake();
    };
    return link;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private use(): Promise<Link> {
    if (this.isClosed) return Promise.reject(closedError("this pipe end"));
    if (this.transferred) return Promise.reject(closedError("this pipe end (it was handed to another process)"));
    if (this.link) return Promise.resolve(this.link);
    this.binding ??= this.bind!().then((l) => this.attach(l));
    return this.binding;
  }

  /** Sends one object; resolves at once unless the channel asks to wait. EPROTO for a value the codec cannot encode. */
  async send(value: T): Promise<void> {
    const link = this.link ?? (await this.use());
    if (this.isClosed) throw closedError("this pipe end");
    if (!link.write(value)) await link.drain();
  }

  /** The next object; EPEERGONE once the other end has closed and everything it sent was read. */
  async recv(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    await this.use();
    for (;;) {
      if (this.inboxHead < this.inbox.length) {
        const v = this.inbox[this.inboxHead]!;
        this.inbox[this.inboxHead++] = undefined as T;
        if (this.inboxHead === this.inbox.length) {
          this.inbox.length = 0;
          this.inboxHead = 0;
        }
        return v;
      }
      if (this.isClosed) throw closedError("this pipe end");
      if (this.ended) throw new ChannelError("EPEERGONE", "cannot receive from the pipe: the other end was closed", { cause: this.endError });
      if (!(await this.arrival(options.timeoutMs, options.signal))) throw timedOut("recv", options.timeoutMs!);
    }
  }

  /** Whether a recv() would return without waiting (data, or the other end closed), waiting up to `timeoutMs` (default 0). */
  async poll(timeoutMs = 0): Promise<boolean> {
    await this.use();
    if (this.inboxHead < this.inbox.length || this.ended) return true;
    if (timeoutMs <= 0) return false;
    await this.arrival(timeoutMs);
    return this.inboxHead < this.inbox.length || this.ended;
  }

  /** Resolves true when something arrives (or the end closes), false at the timeout. */
  private arrival(timeoutMs?: number, signal?: AbortSignal): Promise<boolean> {
    if (this.waiter) throw new ChannelError("EPROTO", "one recv() or poll() at a time per pipe end");
    if (signal?.aborted) return Promise.reject(abortError("recv", signal.reason));
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => done(false), timeoutMs);
      const onAbort = () => done(abortError("recv", signal?.reason));
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = (outcome: boolean | Error) => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiter = undefined;
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      this.waiter = () => done(true);
    });
  }

  /** Closes both directions of this end; the other end's recv() then fails with EPEERGONE. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.wake();
    const link = this.link ?? (this.binding ? await this.binding.catch(() => undefined) : undefined);
    await link?.close();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** @internal What crosses to a child in place of this end. */
  toTransfer(): EndSpec {
    if (!this.spec || this.link || this.binding) throw new TypeError("only the second end of a Pipe(), before it is used here, can be passed to another process");
    this.transferred = true;
    return { $pipeEnd: this.spec };
  }
}

/** Two connected ends. `await` it: the first end starts listening now. */
export async function Pipe<T = unknown>(options: PipeOptions = {}): Promise<[Connection<T>, Connection<T>]> {
  const transport = options.transport ?? defaultTransport;
  const codec = options.codec ?? v8Codec;
  if (codec !== v8Codec && codec !== jsonCodec) throw new TypeError("a Pipe carries objects: use v8Codec or jsonCodec");
  const first = await Link.listen(transport, codec);
  const spec = { peer: first.address, transport: transportSource(options), codec: codec.name };
  const second = new Connection<T>(undefined, () => Link.dial(transport, first.address, codec), spec);
  return [new Connection<T>(first), second];
}

/** In a child: arguments that were pipe ends become ends again. */
export function reviveArgs(args: readonly unknown[]): unknown[] {
  return args.map((a) => {
    const spec = (a as EndSpec | null)?.$pipeEnd;
    if (typeof a !== "object" || a === null || !spec) return a;
    const codec = spec.codec === "json" ? jsonCodec : v8Codec;
    return new Connection(undefined, async () => Link.dial(await loadTransport(spec.transport), spec.peer, codec));
  });
}

/** In the parent: pipe ends among arguments become what crosses to the child. */
export function transferArgs(args: readonly unknown[]): unknown[] {
  return args.map((a) => (a instanceof Connection ? a.toTransfer() : a));
}
