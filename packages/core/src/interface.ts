import type { ChannelError } from "./errors.js";
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

/** How long a kernel or file-system object lives (Boost.Interprocess's terms). */
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
  /** Direction of the underlying kernel object. */
  readonly direction: "one-way" | "duplex";
  /** Does the kernel keep message boundaries (false: a byte stream we frame). */
  readonly messageBoundaries: boolean;
  /** Copies of each payload between the sender's and receiver's memory. */
  readonly copiesPerMessage: number;
  /** Default largest message; the address carries the actual one. */
  readonly maxMessageSize: number;
  /** Only a parent and its descendants can share it. */
  readonly relatedProcessesOnly: boolean;
  /** Can reach another machine. */
  readonly crossesMachines: boolean;
  /** One sentence for tables. */
  readonly summary: string;
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
   * Throws ChannelError EMSGSIZE for a message over the limit (nothing is
   * sent), or the error that ended the channel. Returns false when the
   * caller should `await drain()` before writing more.
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
}

export interface ConnectOptions {
  /** How long to wait for the receiver to be there (ms, default 10 000). */
  timeoutMs?: number;
}

/** A mechanism behind the shared interface. */
export interface Transport<L extends ListenOptions = ListenOptions, C extends ConnectOptions = ConnectOptions> {
  readonly descriptor: MechanismDescriptor;
  listen(options?: L): Promise<Receiver>;
  connect(address: Address, options?: C): Promise<Sender>;
  /** The named resources this transport creates (named mechanisms only): list, removeStale, and each kind's verbs. */
  readonly named?: NamedResources;
  /** @deprecated Use `named.list({ prefix })`. Names of resources with this prefix that exist now. */
  list?(prefix?: string): Promise<string[]>;
  /** @deprecated Use `named.removeStale({ prefix })`. Removes the resources with this prefix no live process owns; returns what it removed. */
  removeStale?(prefix?: string): Promise<string[]>;
}
