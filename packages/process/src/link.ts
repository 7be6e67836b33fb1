import type { Address, ChannelError, Receiver, Sender, Transport } from "@ipc-sampler/core";
import { decodeBatch, ObjectSender, unserializable, v8Codec, type Codec } from "./codec.js";
import { closedError } from "./errors.js";

/**
 * A duplex link between two processes. Over a transport with the duplex
 * capability (uds, tcp) it is one connection both ways. Otherwise it is two
 * one-way channels: each side listens (owns its Receiver) and connects a
 * Sender to the other; the side that dials sends its own address as its first
 * message (the hello), and the listening side connects back when it reads it.
 * Writes made before the way back exists are queued in memory and flushed in order.
 */
export interface Hello {
  readonly $hello: Address;
}

export function isHello(value: unknown): value is Hello {
  return typeof value === "object" && value !== null && typeof (value as Hello).$hello === "object";
}

/** Options passed to the transport's listen and connect on top of the link's own (a `secret`, a `listen` endpoint, …). */
export interface LinkOptions {
  readonly listen?: Readonly<Record<string, unknown>> | undefined;
  readonly connect?: Readonly<Record<string, unknown>> | undefined;
  /** Two one-way channels even over a duplex transport (what a pool's remote endpoint expects). */
  readonly oneWay?: boolean | undefined;
}

export class Link {
  private sender: ObjectSender | undefined;
  private pending: Uint8Array[] | undefined = [];
  private connecting: Promise<void> | undefined;
  private ended = false;
  private isClosed = false;
  private endError: unknown;
  private handler: ((values: unknown[]) => void) | undefined;
  private backlog: unknown[][] = [];
  /** Called with every batch of values the peer sent; batches that came before it was set are handed to it first. */
  get onMessages(): (values: unknown[]) => void {
    return this.handler ?? ((values) => this.backlog.push(values));
  }
  set onMessages(handler: (values: unknown[]) => void) {
    this.handler = handler;
    const early = this.backlog;
    this.backlog = [];
    for (const values of early) handler(values);
  }
  private endHandler: (error: unknown) => void = () => {};
  /** Called once when the peer's channel ends: undefined when it closed, the error when it was lost (at once if it has already ended). */
  get onEnd(): (error: unknown) => void {
    return this.endHandler;
  }
  set onEnd(handler: (error: unknown) => void) {
    this.endHandler = handler;
    if (this.ended) handler(this.endError);
  }

  private constructor(private readonly transport: Transport, readonly receiver: Receiver | undefined, readonly codec: Codec) {}

  /**
   * A link whose incoming side is a receiver shared with other peers (a
   * pool's endpoint for workers on other hosts): its owner hands this link
   * the peer's values with `deliver` and its end with `end`; `sender` is the
   * way to the peer.
   */
  static attached(transport: Transport, sender: Sender, codec: Codec = v8Codec): Link {
    const link = new Link(transport, undefined, codec);
    link.sender = new ObjectSender(sender, codec);
    link.pending = undefined;
    return link;
  }

  deliver(values: unknown[]): void {
    if (!this.ended) this.onMessages(values);
  }

  /** The peer's channel ended: undefined when it closed, else the error. */
  end(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.endError = error;
    this.onEnd(error);
  }

  /** The side that waits: its address is what the other side dials. */
  static async listen(transport: Transport, codec: Codec = v8Codec): Promise<Link> {
    let lost: ChannelError | undefined;
    const options = { expectedProducers: 1, onPeerLost: (e: ChannelError) => (lost = e) };
    if (transport.duplex) {
      const { receiver, peer } = await transport.duplex.listen(options);
      const link = new Link(transport, receiver, codec);
      link.connecting = link.connected(peer);
      void link.pump(() => lost);
      return link;
    }
    const receiver = await transport.listen(options);
    const link = new Link(transport, receiver, codec);
    void link.pump(() => lost);
    return link;
  }

  /** The side that calls: listens too, connects to `peer`, and says hello with its own address. */
  static async dial(transport: Transport, peer: Address, codec: Codec = v8Codec, timeoutMs = 10_000, options: LinkOptions = {}): Promise<Link> {
    let lost: ChannelError | undefined;
    if (transport.duplex && !options.oneWay) {
      const { sender, receiver } = await transport.duplex.connect(peer, { ...options.connect, timeoutMs, onPeerLost: (e) => (lost = e) });
      const link = new Link(transport, receiver, codec);
      link.sender = new ObjectSender(sender, codec);
      link.pending = undefined;
      void link.pump(() => lost);
      return link;
    }
    const receiver = await transport.listen({ ...options.listen, expectedProducers: 1, onPeerLost: (e) => (lost = e) });
    const link = new Link(transport, receiver, codec);
    try {
      const bytes = await transport.connect(peer, { ...options.connect, timeoutMs });
      link.sender = new ObjectSender(bytes, codec);
      link.sender.write({ $hello: receiver.address } satisfies Hello);
      link.flush();
    } catch (err) {
      await receiver.close().catch(() => {});
      throw err;
    }
    void link.pump(() => lost);
    return link;
  }

  get address(): Address {
    if (!this.receiver) throw new TypeError("this link listens on a shared endpoint: it has no address of its own");
    return this.receiver.address;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The largest message the peer accepts (its receiver's limit, once connected). */
  get maxMessageSize(): number {
    return this.sender?.bytes.maxMessageSize ?? this.receiver?.maxMessageSize ?? 0;
  }

  /** True once the peer's channel has ended. */
  get peerEnded(): boolean {
    return this.ended;
  }

  private async pump(lost: () => ChannelError | undefined): Promise<void> {
    let error: unknown;
    try {
      for await (const batch of this.receiver!.batches()) {
        let values = decodeBatch(batch, this.codec);
        if (this.sender === undefined && !this.connecting && values.length > 0 && isHello(values[0])) {
          this.connectBack(values[0].$hello);
          values = values.slice(1);
        }
        if (values.length > 0) this.onMessages(values);
      }
      error = lost();
    } catch (err) {
      error = err;
    }
    this.end(error);
  }

  private connectBack(address: Address): void {
    this.connecting = this.connected(this.transport.connect(address));
  }

  /** Sends what was queued once the way to the peer exists; a peer that never comes ends the link's writes with its error. */
  private connected(sending: Promise<Sender>): Promise<void> {
    return sending.then(
      (bytes) => {
        this.sender = new ObjectSender(bytes, this.codec);
        if (this.isClosed) void bytes.close().catch(() => {});
        else this.flush();
      },
      (err) => {
        this.endError = err;
        this.pending = undefined;
      },
    );
  }

  private flush(): void {
    const queued = this.pending;
    this.pending = undefined;
    if (queued) for (const bytes of queued) this.sender!.bytes.write(bytes);
  }

  /** Queues `value` for the peer; false when the caller should `await drain()`. Throws EPROTO for an unserializable value. */
  write(value: unknown): boolean {
    if (this.isClosed) throw closedError("this connection");
    if (this.sender) return this.sender.write(value);
    if (this.pending === undefined) throw this.endError ?? closedError("this connection");
    try {
      this.pending.push(this.codec.encode(value));
    } catch (err) {
      throw unserializable("a value", err);
    }
    return this.pending.length < 1024;
  }

  async drain(): Promise<void> {
    if (this.sender) return this.sender.drain();
    await this.connecting;
    if (this.sender) return (this.sender as ObjectSender).drain();
  }

  /** Closes both directions; the peer sees its channel end. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    // A duplex peer that never connected: closing the receiver settles the wait for it.
    if (this.sender === undefined && this.transport.duplex) await this.receiver?.close().catch(() => {});
    await this.connecting;
    await this.sender?.close().catch(() => {});
    await this.receiver?.close().catch(() => {});
  }
}
