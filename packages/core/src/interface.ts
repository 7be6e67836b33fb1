import type { ChannelError } from "./errors.js";
import type { KernelLimit } from "./kernel-limits.js";
import type { NamedResources } from "./named.js";

/**
 * Where a producer attaches. Plain JSON, so it crosses process boundaries in
 * argv, env or a message. `transport` names the transport that made it.
 */
export interface Address {
  readonly transport: string;
  /** Largest message the receiver accepts; senders enforce it before sending. */
  readonly maxMessageSize: number;
  readonly [key: string]: unknown;
}

/**
 * How long the object that holds a channel's data lives (Boost.Interprocess's
 * terms): `process`, until the last process holding it exits; `kernel`, until
 * it is removed or the machine reboots; `filesystem`, until it is removed.
 * This is what the kernel object allows; every receiver here removes what it
 * created on close, exit, SIGINT and SIGTERM (a named mmap journal excepted),
 * so an object outlives its processes only after a crash.
 */
export type Persistence = "process" | "kernel" | "filesystem";

/**
 * Facts about a mechanism that the demo and the docs' comparison table read.
 * Nothing else restates them.
 */
export interface MechanismDescriptor {
  /** Transport id used by the demo: `pipe`, `uds`, … */
  readonly id: string;
  /** Human name: "anonymous pipe". */
  readonly mechanism: string;
  /** The kernel interface it is built on: "pipe(2)". */
  readonly kernelInterface: string;
  readonly persistence: Persistence;
  /** How a producer finds the channel. */
  readonly naming: "inherited descriptor" | "file-system path" | "kernel name" | "host and port" | "endpoint";
  /**
   * Direction of the underlying kernel object: `duplex` when one object
   * carries bytes both ways between its two ends (a connected socket),
   * `one-way` when it does not (a pipe, a queue, a PUSH/PULL pair) or is
   * memory the package lays out as one-way rings. Every channel this package
   * family exposes is one-way, Sender → Receiver, whatever the object allows.
   */
  readonly direction: "one-way" | "duplex";
  /**
   * Does the object itself deliver whole messages: the kernel (a message
   * queue's messages) or the library (a ZeroMQ message)? False for a byte
   * stream and for shared memory or files, where the package frames each
   * message with its own length header.
   */
  readonly messageBoundaries: boolean;
  /**
   * How many times a message's bytes are written to another place in memory
   * between the `Uint8Array` given to `Sender.write` and the bytes a
   * `MessageBatch` exposes, on the common path of a message that travels in
   * one piece: copies made by the package in user space and by the kernel
   * count alike (write(2) into a pipe is one, read(2) out of it another).
   * Not counted: a message split into pieces and reassembled (one more), a
   * full ring or queue that holds a copy until there is room (one more), and
   * what a receiver's caller copies out of a batch.
   */
  readonly copiesPerMessage: number;
  /** Default largest message; the address carries the actual one. */
  readonly maxMessageSize: number;
  /** Only a parent and its descendants can share it. */
  readonly relatedProcessesOnly: boolean;
  /** Can reach another machine. */
  readonly crossesMachines: boolean;
  /** One sentence for tables. */
  readonly summary: string;
  /** The kernel limits that bound this mechanism, and where the running machine states each (the docs read them there). */
  readonly kernelLimits: readonly KernelLimit[];
}

/**
 * Messages that arrived together. Message `i` is
 * `data.subarray(offsets[2*i], offsets[2*i] + offsets[2*i+1])`; reading
 * through `data` and `offsets` directly allocates nothing. A batch's bytes
 * stay valid until the next batch is requested, unless the transport says
 * it owns them for longer.
 */
export interface MessageBatch {
  readonly count: number;
  readonly data: Uint8Array;
  /** Pairs of (start, length) into `data`; may be longer than 2*count. */
  readonly offsets: Int32Array;
  /** Index of the producer these came from, in order of attachment. */
  readonly producer: number;
}

/** The producing end. */
export interface Sender {
  readonly maxMessageSize: number;
  /**
   * Queues a copy of `message` (the caller may reuse its buffer at once).
   * Once `write` returns, true or false, the message is queued: it reaches
   * the receiver in order with no further call, as on a Node stream, unless
   * the channel fails. False only asks the caller to slow down (`await
   * drain()` before writing more); a caller that ignores it keeps every
   * message and pays in memory. The same on every transport.
   * Throws ChannelError EMSGSIZE for a message over the limit (nothing is
   * queued), or the error that ended the channel.
   */
  write(message: Uint8Array): boolean;
  /** Resolves when the queue is below its high-water mark; rejects if the channel failed. */
  drain(): Promise<void>;
  /** `write`, then `drain` when needed. */
  send(message: Uint8Array): Promise<void>;
  /** Sends everything queued, tells the receiver this producer is done, releases the channel. */
  close(): Promise<void>;
  readonly closed: boolean;
}

/**
 * A sender that lets the caller build a message in the channel's own memory
 * (the shared-memory transports): `reserve(n)`, fill the view, `commit()`.
 * The message is never copied in user space; the view is a window onto the
 * mapped bytes the receiver will read.
 */
export interface ReservingSender extends Sender {
  /**
   * A view of `length` bytes to fill, or undefined when there is no room now
   * (`await drain()`, then reserve again). One reservation at a time: until
   * `commit()`, write/writeMany/reserve throw EBUSY. Throws EMSGSIZE over
   * maxMessageSize.
   */
  reserve(length: number): Uint8Array | undefined;
  /**
   * Queues the reserved message, its first `length` bytes (default: all
   * that was reserved), as `write` queues one. EPERM when nothing is reserved.
   */
  commit(length?: number): void;
}

/** Whether a sender offers reserve/commit. */
export function isReservingSender(sender: Sender): sender is ReservingSender {
  return typeof (sender as Partial<ReservingSender>).reserve === "function" && typeof (sender as Partial<ReservingSender>).commit === "function";
}

/** What a producer process needs to attach: an address, and descriptors to inherit. */
export interface Admission {
  readonly address: Address;
  /**
   * Descriptors the producer process must inherit, as its fd 3, 4, … in this
   * order (`spawn(..., { stdio: ["ignore", "pipe", "inherit", ...inherit] })`).
   * Empty for named mechanisms.
   */
  readonly inherit: readonly number[];
  /** Closes this process's copies of `inherit` once the producer has them. */
  release(): void;
}

/** Counts of producers as seen by the receiver. */
export interface ProducerCounts {
  readonly attached: number;
  readonly closed: number;
  readonly lost: number;
}

/** The consuming end: owns the resource, removes it on close. */
export interface Receiver extends AsyncIterable<Uint8Array> {
  readonly address: Address;
  readonly maxMessageSize: number;
  readonly producers: ProducerCounts;
  /** Prepares one more producer; see Admission. */
  admit(): Promise<Admission>;
  /**
   * The fast path: batches of messages, one promise per batch. Iteration ends
   * when every producer has closed (or `expectedProducers` have finished).
   */
  batches(): AsyncIterableIterator<MessageBatch>;
  /** Stops receiving, closes every producer's attachment, removes the resource. */
  close(): Promise<void>;
  readonly closed: boolean;
}

/**
 * A receiver that can also be polled without a promise, for hot
 * request/reply loops (the shared-memory transports).
 */
export interface PollingReceiver extends Receiver {
  /**
   * The batch that is there now, or undefined; never waits. Publishes this
   * process's own unsent writes first, so `write(req)` then polling for the
   * reply works. The batch lives until the next poll or `batches()` step.
   * Throws a lost producer's error (without `onPeerLost`), or EBUSY while
   * `batches()` is waiting. Polling in a loop costs a CPU: do it only with
   * the peer on another one, and between polls let the event loop run.
   */
  tryReceive(): MessageBatch | undefined;
  /** Closed, or every producer finished and every message was taken. */
  readonly ended: boolean;
}

export interface ListenOptions {
  /**
   * Iteration ends after this many producers have closed or been lost.
   * Without it, iteration ends when every attached producer has finished,
   * after at least one attached.
   */
  expectedProducers?: number;
  /**
   * Called when a producer goes away without closing (killed, crashed). With
   * no handler, iteration throws the ChannelError (code EPEERGONE) after
   * delivering every whole message that producer sent before.
   */
  onPeerLost?: (error: ChannelError) => void;
  /** Largest message accepted; each transport states its ceiling. */
  maxMessageSize?: number;
  /** Prefix for named resources, so stale ones can be found (default `ipcs-`). */
  prefix?: string;
  /**
   * A batch from `batches()` need only stay valid until the next batch is
   * requested (the MessageBatch minimum), so a receiver that copies
   * messages out of the kernel may reuse that memory for later batches
   * instead of fresh allocations, whose pages fault on first touch (256
   * faults per MiB). Messages the message iterator hands out are never
   * reused. Default false: a byte stream's batches outlive their batch. The
   * shared-memory transports' batches are views of their ring either way.
   */
  reuseBatches?: boolean;
}

export interface ConnectOptions {
  /** How long to wait for the receiver to be there (ms, default 10 000). */
  timeoutMs?: number;
}

/** A mechanism behind the shared interface. */
/**
 * Both directions over one connection, for transports that have one (stream
 * sockets). A transport without it gives a duplex link as two one-way channels.
 */
export interface DuplexCapability<L extends ListenOptions = ListenOptions, C extends ConnectOptions = ConnectOptions> {
  /** Listens for one peer: `receiver` reads what it sends; `peer` is the Sender back over the same connection once it has connected (rejects with ECLOSED if the receiver closes first). */
  listen(options?: L): Promise<{ receiver: Receiver; peer: Promise<Sender> }>;
  /** Connects to a duplex listener (handshake included): one connection, both directions. */
  connect(address: Address, options?: C & Pick<ListenOptions, "onPeerLost">): Promise<{ sender: Sender; receiver: Receiver }>;
}

export interface Transport<L extends ListenOptions = ListenOptions, C extends ConnectOptions = ConnectOptions> {
  readonly descriptor: MechanismDescriptor;
  listen(options?: L): Promise<Receiver>;
  connect(address: Address, options?: C): Promise<Sender>;
  /** Present when both directions can share one connection. */
  readonly duplex?: DuplexCapability<L, C>;
  /** The named resources this transport creates (named mechanisms only): list, removeStale, and each kind's verbs. */
  readonly named?: NamedResources;
  /** @deprecated Use `named.list({ prefix })`. Names of resources with this prefix that exist now. */
  list?(prefix?: string): Promise<string[]>;
  /** @deprecated Use `named.removeStale({ prefix })`. Removes the resources with this prefix no live process owns; returns what it removed. */
  removeStale?(prefix?: string): Promise<string[]>;
}
