/**
 * POSIX message queue transport (mq_overview(7)). The receiver creates the
 * queue; any number of producers open it by name and share it.
 *
 * Every kernel message is one packet of core's packet protocol (packets.ts in
 * @ipc-sampler/core), at most mq_msgsize bytes, with the kind alone in the
 * header word (byte 6 the kind, byte 7 zero): the kernel message keeps the
 * body's length. All packets use priority 0, so the queue is FIFO.
 */
import { ChannelError, attachWithRetry, DEFAULT_PREFIX, MAX_PACKET_PRODUCERS, PACKET_GOODBYE, PACKET_HEADER_BYTES, PACKET_HELLO, PacketReader, PacketReceiver, PacketSender, namedResources, removedNames, posixName, removeOnExit, uniqueName, validatePrefix, type Address, type Lease, type ConnectOptions, type ListenOptions, type MechanismDescriptor, type Receiver, type Sender, type Transport } from "@ipc-sampler/core";
import { FdWatcher, PeerSlotWatcher, READABLE, WRITABLE, claimPeerSlot, ownerHeldOn, mqClose, mqCreate, mqExists, mqGetAttr, mqLimits, queues, mqOpen, mqReceiveBatch, mqSendBatch, mqUnlink, spinnerFor, type MqHandle } from "@ipc-sampler/posix";

/** Default largest message: 1 MiB, split over kernel messages and reassembled. */
export const MQUEUE_MAX_MESSAGE = 1024 * 1024;
/** Largest `maxMessageSize` accepted (batch offsets are 32-bit). */
export const MQUEUE_MAX_MESSAGE_LIMIT = 0x7fffffff;
/** Smallest mq_msgsize the transport works with (header plus some payload). */
export const MQUEUE_MIN_MSGSIZE = 64;

export const mqueueDescriptor: MechanismDescriptor = {
  id: "mqueue",
  mechanism: "POSIX message queue",
  kernelInterface: "mq_open(3)",
  persistence: "kernel",
  naming: "kernel name",
  direction: "one-way",
  messageBoundaries: true,
  copiesPerMessage: 3,
  maxMessageSize: MQUEUE_MAX_MESSAGE,
  relatedProcessesOnly: false,
  crossesMachines: false,
  summary: "A kernel queue of bounded messages under a /name: the kernel keeps each message whole; a full queue makes producers wait in drain(), never blocking the event loop.",
  kernelLimits: [
    // mq_overview(7)
    { meaning: "most messages a queue may hold (mq_maxmsg ceiling)", unit: "count", from: { proc: "/proc/sys/fs/mqueue/msg_max" } },
    { meaning: "largest message (mq_msgsize ceiling)", unit: "bytes", from: { proc: "/proc/sys/fs/mqueue/msgsize_max" } },
    { meaning: "queues on the whole system", unit: "count", from: { proc: "/proc/sys/fs/mqueue/queues_max" } },
    { meaning: "mq_maxmsg when mq_open gets no attributes", unit: "count", from: { proc: "/proc/sys/fs/mqueue/msg_default" } },
    { meaning: "mq_msgsize when mq_open gets no attributes", unit: "bytes", from: { proc: "/proc/sys/fs/mqueue/msgsize_default" } },
  ],
};

export interface MqueueAddress extends Address {
  readonly transport: "mqueue";
  /** The queue's name, `/…`. */
  readonly name: string;
  /** mq_msgsize of the queue. */
  readonly messageSize: number;
  /** mq_maxmsg of the queue. */
  readonly maxMessages: number;
}

export interface MqueueListenOptions extends ListenOptions {
  /** name — mq_open(3). A queue name, with or without the leading "/". Default: a fresh name with `prefix`. */
  name?: string;
  /** mq_attr.mq_maxmsg — mq_open(3). Messages the queue holds (default /proc/sys/fs/mqueue/msg_max). Over the limit needs CAP_SYS_RESOURCE; refused sizes fall back to the limit. */
  maxMessages?: number;
  /** mq_attr.mq_msgsize — mq_open(3). Bytes per kernel message (default /proc/sys/fs/mqueue/msgsize_max); larger messages are split. */
  messageSize?: number;
  /** mode — mq_open(3). Permission bits, applied exactly (default 0o600). */
  mode?: number;
  /** Busy-read before the event loop sleeps, when a caller waits and nothing is queued (µs; default 50, 0 on a one-CPU machine; 0 never spins). Adapts down when spinning does not pay, so an idle channel soon only sleeps. */
  spinUs?: number;
}

// ---- sender --------------------------------------------------------------------

/** While a full queue makes a sender wait, how often it checks the queue still has a name and a live receiver. */
const PROBE_MS = 250;

/**
 * The producing end: core's `PacketSender` copies messages into packets of up
 * to mq_msgsize bytes; they are sent with one native call per chunk (128 KiB),
 * and a full queue makes the sender wait for POLLOUT on the queue descriptor.
 */
export class MqueueSender extends PacketSender {
  private readonly watcher: FdWatcher;
  private waitingSince = 0;
  private probe: NodeJS.Timeout | undefined;

  /** `producer`: 1 + the slot whose lock this producer holds on the queue descriptor (see connect). */
  constructor(private readonly queue: MqHandle, maxMessageSize: number, producer: number) {
    super({
      packetBytes: queue.messageSize,
      packetsPerChunk: Math.max(4, Math.floor((128 * 1024) / queue.messageSize)),
      highWaterMark: 512 * 1024,
      maxPooledChunks: 8,
      lengthInHeader: false,
      maxMessageSize,
      describe: `message queue ${queue.name}`,
      resource: queue.name,
      producer,
    });
    this.watcher = new FdWatcher(queue.mqd, () => this.resume(), queue.name);
    this.hello();
  }

  private gone(why: string): ChannelError {
    return new ChannelError("EPEERGONE", `cannot send to message queue ${this.queue.name}: ${why}`, { resource: this.queue.name });
  }

  protected sendPackets(buf: Buffer, pairs: Int32Array, from: number, count: number): number {
    return mqSendBatch(this.queue.mqd, buf, pairs, from, count);
  }

  protected startWaiting(): void {
    this.waitingSince = Date.now();
    this.watcher.start(WRITABLE);
    if (!this.probe) this.probe = setTimeout(this.onProbe, PROBE_MS).unref();
  }

  protected stopWaiting(): void {
    this.waitingSince = 0;
    this.watcher.stop();
  }

  /**
   * A queue that stays full may have lost its receiver: check that it still
   * holds the queue's owner lock (the kernel drops it when the receiver dies,
   * whatever its pid namespace) and that the name still exists.
   */
  private readonly onProbe = (): void => {
    this.probe = undefined;
    if (this.waitingSince === 0 || this.failure) return;
    if (!this.receiverAlive()) return this.fail(this.gone("the receiver process exited"));
    if (Date.now() - this.waitingSince >= PROBE_MS) {
      let exists = true;
      try {
        exists = mqExists(this.queue.name);
      } catch {
        // cannot tell: keep waiting
      }
      if (!exists) return this.fail(this.gone("the receiver removed the queue"));
    }
    this.probe = setTimeout(this.onProbe, PROBE_MS).unref();
  };

  /**
   * The receiver unlinks its queue when it closes, but a queue stays writable
   * through open descriptors: kernel messages left in a queue whose name is
   * gone will never be read.
   */
  protected override undeliverable(): ChannelError | undefined {
    try {
      if (mqExists(this.queue.name) && this.receiverAlive()) return undefined;
      const left = mqGetAttr(this.queue.mqd, this.queue.name).curmsgs;
      if (left === 0) return undefined;
      return this.gone(`the receiver closed the queue with ${left} kernel message${left === 1 ? "" : "s"} unread`);
    } catch {
      return undefined; // cannot tell
    }
  }

  private receiverAlive(): boolean {
    try {
      return ownerHeldOn(this.queue.mqd);
    } catch {
      return true; // cannot tell
    }
  }

  protected releaseResources(): void {
    this.waitingSince = 0;
    this.watcher.close();
    if (this.probe) clearTimeout(this.probe);
    this.probe = undefined;
    try {
      mqClose(this.queue.mqd);
    } catch {
      // already closed
    }
  }
}

// ---- receiver ------------------------------------------------------------------

const ARENA_MIN_BYTES = 1024 * 1024;
/** Kernel messages per native receive call. */
const RECEIVE_BATCH = 256;

/**
 * The consuming end: drains the queue in batches when its descriptor polls
 * readable; core's `PacketReceiver` sorts the packets by producer, reassembles
 * large messages, and hands out one batch per producer per drain. A producer
 * whose process exits without a goodbye is reported once every message it
 * queued has been received (the queue found empty, or a queue's capacity
 * received since its death: all packets share one priority, so the queue is
 * first in, first out).
 */
export class MqueueReceiver extends PacketReceiver {
  private readonly watcher: FdWatcher;
  private readonly pairs = new Int32Array(2 * RECEIVE_BATCH);
  private readonly arenaBytes: number;
  private arena: Buffer;
  /** With reuseBatches, the arena is pooled: this process holds it while it reads into it, each batch in it too. */
  private arenaLease: Lease | undefined;
  private pos = 0;

  private readonly peers: PeerSlotWatcher;

  constructor(
    override readonly address: MqueueAddress,
    private readonly queue: MqHandle,
    private readonly options: { expectedProducers?: number | undefined; onPeerLost?: ((e: ChannelError) => void) | undefined; spinUs?: number | undefined; reuseBatches?: boolean | undefined; cleanup: () => void },
  ) {
    const peers = new PeerSlotWatcher(queue.mqd);
    super(address, {
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      spinner: spinnerFor(options.spinUs),
      reuseBatches: options.reuseBatches,
      noun: "message queue",
      describe: `message queue ${queue.name}`,
      resource: queue.name,
      capacity: queue.maxMessages,
      // Producer n holds the lock of slot n - 1 on the queue (see connect): asked on the receiver's descriptor.
      watchPeer: (n, onGone) => peers.watch(n - 1, onGone),
    });
    this.peers = peers;
    this.arenaBytes = Math.max(ARENA_MIN_BYTES, 32 * queue.messageSize);
    this.arena = this.newArena();
    this.watcher = new FdWatcher(queue.mqd, (err) => (err ? this.breakAll(err) : this.pump()), queue.name);
    this.watcher.start(READABLE);
  }

  protected watch(on: boolean): void {
    if (on) this.watcher.start(READABLE);
    else this.watcher.stop();
  }

  protected readSome(): boolean {
    const size = this.queue.messageSize;
    if (this.arenaBytes - this.pos < size * 8) {
      // Every packet in the old arena was parsed: only its batches still hold it.
      const old = this.arenaLease;
      this.arena = this.newArena();
      if (old) this.buffers!.drop(old);
      this.pos = 0;
    }
    let n: number;
    try {
      n = mqReceiveBatch(this.queue.mqd, this.arena, this.pos, this.arenaBytes, size, this.pairs, RECEIVE_BATCH);
    } catch (err) {
      this.breakAll(err as ChannelError);
      return false;
    }
    if (n === 0) {
      this.reader.empty();
      return false;
    }
    this.reader.read(n);
    const last = 2 * (n - 1);
    const end = this.pairs[last]! + this.pairs[last + 1]!;
    this.parse(n);
    this.pos = end;
    if (n < RECEIVE_BATCH && this.arenaBytes - end >= size) {
      this.reader.empty(); // stopped because the queue was empty
      return false;
    }
    return true;
  }

  /** A fresh arena: a pooled one with reuseBatches (a fresh 1 MiB faults on every page it fills). */
  private newArena(): Buffer {
    this.arenaLease = this.buffers?.lease(this.arenaBytes);
    return this.arenaLease ? this.arenaLease.buffer : Buffer.allocUnsafeSlow(this.arenaBytes);
  }

  /** Each kernel message is one packet; one that is not ours (someone else writes to this queue) is dropped. */
  private parse(n: number): void {
    const buf = this.arena;
    const pairs = this.pairs;
    for (let i = 0; i < n; i++) {
      const p = pairs[2 * i]!;
      const end = p + pairs[2 * i + 1]!;
      const kind = buf[p + 6]!;
      if (end - p < PACKET_HEADER_BYTES || kind < PACKET_HELLO || kind > PACKET_GOODBYE) continue;
      this.reader.packet(buf, p, kind, end, this.arenaLease);
    }
    this.reader.flush();
  }

  protected release(): void {
    this.watcher.close();
    this.peers.close();
    try {
      mqClose(this.queue.mqd);
    } finally {
      this.options.cleanup();
    }
  }
}

// ---- transport -------------------------------------------------------------------

function queueName(options: MqueueListenOptions): string {
  const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
  return options.name !== undefined ? posixName(options.name, "message queue") : "/" + uniqueName(prefix);
}

/** Creates the queue (exclusive, mode 0600, O_NONBLOCK) and starts receiving. */
async function listen(options: MqueueListenOptions = {}): Promise<Receiver> {
  const maxMessageSize = options.maxMessageSize ?? MQUEUE_MAX_MESSAGE;
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > MQUEUE_MAX_MESSAGE_LIMIT) {
    throw new RangeError(`maxMessageSize must be an integer from 0 to ${MQUEUE_MAX_MESSAGE_LIMIT}; got ${maxMessageSize}`);
  }
  if (options.messageSize !== undefined && (!Number.isInteger(options.messageSize) || options.messageSize < MQUEUE_MIN_MSGSIZE)) {
    throw new RangeError(`messageSize (mq_msgsize) must be an integer of at least ${MQUEUE_MIN_MSGSIZE}; got ${options.messageSize}`);
  }
  if (options.maxMessages !== undefined && (!Number.isInteger(options.maxMessages) || options.maxMessages < 1)) {
    throw new RangeError(`maxMessages (mq_maxmsg) must be a positive integer; got ${options.maxMessages}`);
  }
  const mode = options.mode ?? 0o600;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new RangeError(`mode must be permission bits from 0 to 0o777; got ${mode}`);
  const name = queueName(options);
  const createOptions: { access: "read"; mode: number; maxMessages?: number; messageSize?: number } = { access: "read", mode };
  if (options.maxMessages !== undefined) createOptions.maxMessages = options.maxMessages;
  if (options.messageSize !== undefined) createOptions.messageSize = options.messageSize;
  const queue = mqCreate(name, createOptions);
  const unregister = removeOnExit(() => mqUnlink(name));
  if (queue.messageSize < MQUEUE_MIN_MSGSIZE) {
    mqClose(queue.mqd);
    mqUnlink(name);
    unregister();
    throw new ChannelError("ELIMIT", `cannot use message queue ${name}: its mq_msgsize is ${queue.messageSize} bytes, under the ${MQUEUE_MIN_MSGSIZE} this transport needs`, { resource: name });
  }
  const address: MqueueAddress = { transport: "mqueue", name, maxMessageSize, messageSize: queue.messageSize, maxMessages: queue.maxMessages };
  return new MqueueReceiver(address, queue, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    spinUs: options.spinUs,
    reuseBatches: options.reuseBatches,
    cleanup: () => {
      try {
        mqUnlink(name);
      } catch {
        // removed by someone else
      }
      unregister();
    },
  });
}

/** Opens the queue for writing, retrying ENOENT (not created yet) until `timeoutMs`, then ETIMEDOUT. */
async function connect(address: Address, options: ConnectOptions = {}): Promise<Sender> {
  const a = address as MqueueAddress;
  if (a.transport !== "mqueue" || typeof a.name !== "string") throw new TypeError(`not an mqueue address: ${JSON.stringify(address)}`);
  if (!Number.isInteger(a.maxMessageSize) || a.maxMessageSize < 0) throw new TypeError(`mqueue address has no valid maxMessageSize: ${JSON.stringify(address)}`);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const queue = await attachWithRetry(() => mqOpen(a.name, { access: "write" }), {
    timeoutMs,
    absent: (err) => ((err as ChannelError).code === "ENOENT" ? "ENOENT" : undefined),
    timedOut: (code, err) => new ChannelError("ETIMEDOUT", `cannot attach to message queue ${a.name}: no receiver within ${timeoutMs} ms`, { errno: code, syscall: "mq_open", resource: a.name, cause: err }),
  });
  if (queue.messageSize < MQUEUE_MIN_MSGSIZE) {
    mqClose(queue.mqd);
    throw new ChannelError("ELIMIT", `cannot use message queue ${a.name}: its mq_msgsize is ${queue.messageSize} bytes, under ${MQUEUE_MIN_MSGSIZE}`, { resource: a.name });
  }
  // Liveness: a write lock on one byte of the queue per producer (1 + its
  // slot), on this descriptor; the kernel drops it when this process dies,
  // and the receiver asks for it on its own descriptor. No pid is involved.
  let slot: number;
  try {
    slot = claimPeerSlot(queue.mqd, MAX_PACKET_PRODUCERS);
  } catch (err) {
    mqClose(queue.mqd);
    throw ChannelError.is(err) ? err : new ChannelError("ESYSCALL", `cannot lock a producer slot of message queue ${a.name}: ${(err as Error).message}`, { resource: a.name, cause: err });
  }
  if (slot < 0) {
    mqClose(queue.mqd);
    throw new ChannelError("ELIMIT", `cannot attach to message queue ${a.name}: ${MAX_PACKET_PRODUCERS} producers are attached already`, { resource: a.name });
  }
  try {
    return new MqueueSender(queue, a.maxMessageSize, slot + 1);
  } catch (err) {
    mqClose(queue.mqd);
    throw err;
  }
}

/** The queues, `/<prefix>…`; owned through the receiver's queue descriptor. */
const named = namedResources(queues);

/**
 * @deprecated named.list({ prefix, directory }).
 * Queues whose name starts with `prefix`, as `/name`. Linux lists queues only
 * through a mounted mqueue file system (`mount -t mqueue none /dev/mqueue`);
 * without one this returns [] (see mqueueMountPoint in @ipc-sampler/posix).
 */
async function list(prefix = DEFAULT_PREFIX, directory?: string): Promise<string[]> {
  return named.list({ prefix, directory });
}

/** @deprecated named.removeStale({ prefix, directory }). Unlinks queues with this prefix that no live receiver owns (it holds a lock on its queue descriptor); returns their names. */
async function removeStale(prefix = DEFAULT_PREFIX, directory?: string): Promise<string[]> {
  return removedNames(await named.removeStale({ prefix, directory }));
}

export const mqueueTransport: Transport<MqueueListenOptions> = { descriptor: mqueueDescriptor, named, listen, connect, list, removeStale };
