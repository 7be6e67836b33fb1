/**
 * POSIX message queue transport (mq_overview(7)). The receiver creates the
 * queue; any number of producers open it by name and share it.
 *
 * Every kernel message is one packet of at most mq_msgsize bytes:
 *
 *   0  u32  producer pid
 *   4  u16  stream: the sender's number within its process
 *   6  u8   kind
 *   7  u8   0
 *   8  …    body (its length is the kernel message's length)
 *
 * Kinds: HELLO (a producer attaches), FRAMES (whole messages, each a u32
 * length then the bytes: many small messages share one kernel message),
 * FRAGMENT_FIRST (u32 total length, then the first bytes of a message larger
 * than one kernel message), FRAGMENT_MORE (the next bytes), GOODBYE.
 * Little-endian. All packets use priority 0, so the queue is FIFO.
 */
import {
  ChannelError,
  DEFAULT_PREFIX,
  ReceiverCore,
  isProcessAlive,
  ownerPidOf,
  posixName,
  removeOnExit,
  uniqueName,
  validatePrefix,
  type Address,
  type Admission,
  type ConnectOptions,
  type ListenOptions,
  type MechanismDescriptor,
  type MessageBatch,
  type ProducerCounts,
  type Receiver,
  type Sender,
  type Transport,
} from "@ipc-sampler/core";
import {
  FdWatcher,
  READABLE,
  WRITABLE,
  mqClose,
  mqCreate,
  mqExists,
  mqLimits,
  mqList,
  mqOpen,
  mqReceiveBatch,
  mqSendBatch,
  mqUnlink,
  watchProcessExit,
  type MqHandle,
  type ProcessExitWatch,
} from "@ipc-sampler/posix";

/** Default largest message: 1 MiB, split over kernel messages and reassembled. */
export const MQUEUE_MAX_MESSAGE = 1024 * 1024;
/** Largest `maxMessageSize` accepted (batch offsets are 32-bit). */
export const MQUEUE_MAX_MESSAGE_LIMIT = 0x7fffffff;
/** Smallest mq_msgsize the transport works with (header plus some payload). */
export const MQUEUE_MIN_MSGSIZE = 64;

const HEADER_BYTES = 8;
const FRAME_BYTES = 4;
const HELLO = 1;
const FRAMES = 2;
const FRAGMENT_FIRST = 3;
const FRAGMENT_MORE = 4;
const GOODBYE = 5;

export const mqueueDescriptor: MechanismDescriptor = {
  id: "mqueue",
  mechanism: "POSIX message queue",
  kernelInterface: "mq_open(3)",
  persistence: "kernel",
  naming: "kernel name",
  direction: "one-way",
  messageBoundaries: true,
  copiesPerMessage: 2,
  maxMessageSize: MQUEUE_MAX_MESSAGE,
  relatedProcessesOnly: false,
  crossesMachines: false,
  summary: "A kernel queue of bounded messages under a /name: the kernel keeps each message whole and blocks or refuses when the queue is full.",
};

export interface MqueueAddress extends Address {
  readonly transport: "mqueue";
  /** The queue's name, `/…`. */
  readonly name: string;
  /** mq_msgsize of the queue. */
  readonly messageSize: number;
  /** mq_maxmsg of the queue. */
  readonly maxMessages: number;
  /** The receiver's process id: senders waiting on a full queue stop when it exits. */
  readonly pid: number;
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
}

function packetHeader(buf: Uint8Array, at: number, pid: number, stream: number, kind: number): void {
  buf[at] = pid & 0xff;
  buf[at + 1] = (pid >>> 8) & 0xff;
  buf[at + 2] = (pid >>> 16) & 0xff;
  buf[at + 3] = (pid >>> 24) & 0xff;
  buf[at + 4] = stream & 0xff;
  buf[at + 5] = (stream >>> 8) & 0xff;
  buf[at + 6] = kind;
  buf[at + 7] = 0;
}

function readU32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value & 0xff;
  buf[at + 1] = (value >>> 8) & 0xff;
  buf[at + 2] = (value >>> 16) & 0xff;
  buf[at + 3] = (value >>> 24) & 0xff;
}

// ---- sender --------------------------------------------------------------------

const SEND_CHUNK_BYTES = 128 * 1024;
const SEND_HIGH_WATER = 512 * 1024;
const MAX_POOLED = 8;
/** While a full queue makes a sender wait, how often it checks the queue still has a name. */
const PROBE_MS = 250;

interface Chunk {
  readonly buf: Buffer;
  readonly pairs: Int32Array;
  sealed: number;
  sent: number;
}

let streams = 0;

/**
 * The producing end: copies messages into packets of up to mq_msgsize bytes,
 * sends them with one native call per chunk at the next turn of the event
 * loop, and waits for POLLOUT on the queue descriptor when it is full.
 */
export class MqueueSender implements Sender {
  readonly maxMessageSize: number;
  private readonly pid = process.pid;
  private readonly stream = streams++ & 0xffff;
  private readonly slot: number;
  private readonly slots: number;
  private readonly bodyMax: number;
  private readonly chunks: Chunk[] = [];
  private readonly pool: Chunk[] = [];
  private fill = 0;
  private queued = 0;
  private scheduled = false;
  private failure: ChannelError | undefined;
  private closing: Promise<void> | undefined;
  private isClosed = false;
  private released = false;
  private readonly watcher: FdWatcher;
  private readonly receiverExit: ProcessExitWatch | undefined;
  private waitingSince = 0;
  private probe: NodeJS.Timeout | undefined;
  private drainWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private emptyWaiter: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  private readonly flushSoon = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(private readonly queue: MqHandle, receiverPid: number, maxMessageSize: number) {
    this.maxMessageSize = maxMessageSize;
    this.slot = queue.messageSize;
    this.slots = Math.max(4, Math.floor(SEND_CHUNK_BYTES / this.slot));
    this.bodyMax = this.slot - HEADER_BYTES;
    this.watcher = new FdWatcher(queue.mqd, () => this.sendOut(), queue.name);
    this.receiverExit = receiverPid > 0 ? watchProcessExit(receiverPid, () => this.fail(this.gone("the receiver process exited"))) : undefined;
    this.openPacket(HELLO);
    this.seal();
    this.sendOut();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private gone(why: string): ChannelError {
    return new ChannelError("EPEERGONE", `cannot send to message queue ${this.queue.name}: ${why}`, { resource: this.queue.name });
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.isClosed || this.closing) throw new ChannelError("ECLOSED", `cannot send to message queue ${this.queue.name}: this sender is closed`, { resource: this.queue.name });
  }

  write(message: Uint8Array): boolean {
    this.check();
    const len = message.length;
    if (len > this.maxMessageSize) {
      throw new ChannelError("EMSGSIZE", `cannot send a ${len}-byte message to message queue ${this.queue.name}: the limit is ${this.maxMessageSize} bytes`, { resource: this.queue.name });
    }
    const frame = FRAME_BYTES + len;
    if (frame <= this.bodyMax) {
      if (this.fill !== 0 && this.fill + frame > this.slot) this.seal();
      if (this.fill === 0) this.openPacket(FRAMES);
      const chunk = this.chunks[this.chunks.length - 1]!;
      const at = chunk.sealed * this.slot + this.fill;
      writeU32(chunk.buf, at, len);
      chunk.buf.set(message, at + FRAME_BYTES);
      this.fill += frame;
    } else {
      this.fragment(message);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushSoon);
    }
    return this.queued + this.fill <= SEND_HIGH_WATER;
  }

  private fragment(message: Uint8Array): void {
    if (this.fill !== 0) this.seal();
    let pos = 0;
    let first = true;
    while (pos < message.length) {
      this.openPacket(first ? FRAGMENT_FIRST : FRAGMENT_MORE);
      const chunk = this.chunks[this.chunks.length - 1]!;
      let at = chunk.sealed * this.slot + HEADER_BYTES;
      let room = this.bodyMax;
      if (first) {
        writeU32(chunk.buf, at, message.length);
        at += FRAME_BYTES;
        room -= FRAME_BYTES;
        this.fill += FRAME_BYTES;
        first = false;
      }
      const take = Math.min(room, message.length - pos);
      chunk.buf.set(message.subarray(pos, pos + take), at);
      this.fill += take;
      pos += take;
      this.seal();
    }
  }

  private openPacket(kind: number): void {
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || chunk.sealed === this.slots) {
      chunk = this.pool.pop() ?? { buf: Buffer.allocUnsafeSlow(this.slots * this.slot), pairs: new Int32Array(2 * this.slots), sealed: 0, sent: 0 };
      this.chunks.push(chunk);
    }
    packetHeader(chunk.buf, chunk.sealed * this.slot, this.pid, this.stream, kind);
    this.fill = HEADER_BYTES;
  }

  private seal(): void {
    const chunk = this.chunks[this.chunks.length - 1]!;
    chunk.pairs[2 * chunk.sealed] = chunk.sealed * this.slot;
    chunk.pairs[2 * chunk.sealed + 1] = this.fill;
    chunk.sealed++;
    this.queued += this.fill;
    this.fill = 0;
    if (chunk.sealed === this.slots && this.waitingSince === 0) this.sendOut();
  }

  private flush(): void {
    if (this.failure) return;
    if (this.fill !== 0) this.seal();
    this.sendOut();
  }

  /** Sends sealed packets until done or the queue is full (then waits for POLLOUT). */
  private sendOut(): void {
    if (this.failure) return;
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const pending = chunk.sealed - chunk.sent;
      if (pending > 0) {
        let n: number;
        try {
          n = mqSendBatch(this.queue.mqd, chunk.buf, chunk.pairs, chunk.sent, pending);
        } catch (err) {
          return this.fail(err as ChannelError);
        }
        for (let i = chunk.sent; i < chunk.sent + n; i++) this.queued -= chunk.pairs[2 * i + 1]!;
        chunk.sent += n;
        if (n < pending) {
          this.startWaiting();
          this.wake();
          return;
        }
      }
      if (this.chunks.length === 1 && this.fill !== 0) break; // the open packet lives here
      this.chunks.shift();
      chunk.sealed = 0;
      chunk.sent = 0;
      if (this.pool.length < MAX_POOLED) this.pool.push(chunk);
    }
    this.stopWaiting();
    this.wake();
  }

  private startWaiting(): void {
    if (this.waitingSince !== 0) return;
    this.waitingSince = Date.now();
    this.watcher.start(WRITABLE);
    if (!this.probe) this.probe = setTimeout(this.onProbe, PROBE_MS).unref();
  }

  private stopWaiting(): void {
    if (this.waitingSince === 0) return;
    this.waitingSince = 0;
    this.watcher.stop();
  }

  /** A queue that stays full may have lost its receiver: check that its name still exists. */
  private readonly onProbe = (): void => {
    this.probe = undefined;
    if (this.waitingSince === 0 || this.failure) return;
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

  private wake(): void {
    if (this.queued + this.fill <= SEND_HIGH_WATER && this.drainWaiters.length > 0) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const x of w) x.resolve();
    }
    if (this.queued === 0 && this.fill === 0 && this.emptyWaiter) {
      const w = this.emptyWaiter;
      this.emptyWaiter = undefined;
      w.resolve();
    }
  }

  private fail(err: ChannelError): void {
    if (this.failure || this.released) return;
    this.failure = err;
    this.release();
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const x of w) x.reject(err);
    const e = this.emptyWaiter;
    this.emptyWaiter = undefined;
    e?.reject(err);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.watcher.close();
    this.receiverExit?.close();
    if (this.probe) clearTimeout(this.probe);
    this.probe = undefined;
    try {
      mqClose(this.queue.mqd);
    } catch {
      // already closed
    }
    this.chunks.length = 0;
    this.pool.length = 0;
  }

  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.flush();
    if (this.failure) return Promise.reject(this.failure);
    if (this.queued + this.fill <= SEND_HIGH_WATER) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  send(message: Uint8Array): Promise<void> {
    try {
      if (this.write(message)) return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.drain();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.failure) {
      this.isClosed = true;
      return Promise.reject(this.failure);
    }
    this.closing = new Promise<void>((resolve, reject) => {
      if (this.fill !== 0) this.seal();
      this.openPacket(GOODBYE);
      this.seal();
      this.emptyWaiter = { resolve, reject };
      this.sendOut();
    }).then(
      () => {
        this.isClosed = true;
        this.release();
      },
      (err) => {
        this.isClosed = true;
        throw err;
      },
    );
    return this.closing;
  }
}

// ---- receiver ------------------------------------------------------------------

const ARENA_MIN_BYTES = 1024 * 1024;
/** Kernel messages per native receive call. */
const RECEIVE_BATCH = 256;
const RECEIVES_PER_TURN = 4;

interface Producer {
  readonly index: number;
  readonly pid: number;
  readonly key: number;
  offsets: Int32Array;
  count: number;
  fragment: Buffer | undefined;
  fragmentFill: number;
  exit: ProcessExitWatch | undefined;
  deathMark: number;
  deathDrains: number;
  dead: boolean;
}

/**
 * The consuming end: drains the queue in batches when its descriptor polls
 * readable, sorts packets by producer, reassembles large messages, and hands
 * out one batch per producer per drain. A producer whose process exits without
 * a goodbye is reported once every message it queued has been received.
 */
export class MqueueReceiver implements Receiver {
  readonly core: ReceiverCore;
  private readonly watcher: FdWatcher;
  private readonly byKey = new Map<number, Producer>();
  private readonly touched: Producer[] = [];
  private readonly dying: Producer[] = [];
  private readonly pairs = new Int32Array(2 * RECEIVE_BATCH);
  private readonly arenaBytes: number;
  private arena: Buffer;
  private pos = 0;
  private received = 0;
  private drains = 0;
  private paused = false;
  private broken: ChannelError | undefined;

  constructor(
    readonly address: MqueueAddress,
    private readonly queue: MqHandle,
    options: { expectedProducers?: number | undefined; onPeerLost?: ((e: ChannelError) => void) | undefined; cleanup: () => void },
  ) {
    this.arenaBytes = Math.max(ARENA_MIN_BYTES, 32 * queue.messageSize);
    this.arena = Buffer.allocUnsafeSlow(this.arenaBytes);
    this.core = new ReceiverCore({
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      onPressure: (high) => this.setPaused(high),
      close: () => {
        this.watcher.close();
        for (const p of this.byKey.values()) p.exit?.close();
        this.byKey.clear();
        this.dying.length = 0;
        try {
          mqClose(queue.mqd);
        } finally {
          options.cleanup();
        }
      },
    });
    this.watcher = new FdWatcher(queue.mqd, (err) => (err ? this.breakAll(err) : this.pump()), queue.name);
    this.watcher.start(READABLE);
  }

  get maxMessageSize(): number {
    return this.address.maxMessageSize;
  }
  get producers(): ProducerCounts {
    return this.core.counts;
  }
  get closed(): boolean {
    return this.core.closed;
  }
  admit(): Promise<Admission> {
    if (this.core.closed) return Promise.reject(new ChannelError("ECLOSED", `cannot admit a producer: the receiver of message queue ${this.queue.name} is closed`, { resource: this.queue.name }));
    return Promise.resolve({ address: this.address, inherit: [], release: () => {} });
  }
  batches(): AsyncIterableIterator<MessageBatch> {
    return this.core.batches();
  }
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.core.messages();
  }
  close(): Promise<void> {
    return this.core.close();
  }

  private setPaused(high: boolean): void {
    if (high === this.paused || this.core.closed) return;
    this.paused = high;
    if (high) this.watcher.stop();
    else {
      this.watcher.start(READABLE);
      this.pump();
    }
  }

  /** Receives what the queue holds (a few batches at most), then settles exited producers. */
  private pump(): void {
    if (this.core.closed || this.broken) return;
    const size = this.queue.messageSize;
    for (let i = 0; i < RECEIVES_PER_TURN && !this.paused; i++) {
      if (this.arenaBytes - this.pos < size * 8) {
        this.arena = Buffer.allocUnsafeSlow(this.arenaBytes);
        this.pos = 0;
      }
      let n: number;
      try {
        n = mqReceiveBatch(this.queue.mqd, this.arena, this.pos, this.arenaBytes, size, this.pairs, RECEIVE_BATCH);
      } catch (err) {
        return this.breakAll(err as ChannelError);
      }
      if (n === 0) {
        this.drains++;
        break;
      }
      this.received += n;
      const last = 2 * (n - 1);
      const end = this.pairs[last]! + this.pairs[last + 1]!;
      this.parse(n);
      this.pos = end;
      if (this.broken || this.core.closed) return;
      if (n < RECEIVE_BATCH && this.arenaBytes - end >= size) {
        this.drains++; // stopped because the queue was empty
        break;
      }
    }
    if (this.dying.length > 0) this.settleDeaths();
  }

  private parse(n: number): void {
    const buf = this.arena;
    const pairs = this.pairs;
    for (let i = 0; i < n; i++) {
      const p = pairs[2 * i]!;
      const end = p + pairs[2 * i + 1]!;
      if (end - p < HEADER_BYTES || buf[p + 6]! < HELLO || buf[p + 6]! > GOODBYE) {
        // Not one of ours: someone else writes to this queue. Drop it.
        continue;
      }
      const pid = readU32(buf, p);
      const key = pid * 65536 + (buf[p + 4]! | (buf[p + 5]! << 8));
      const kind = buf[p + 6]!;
      const producer = this.byKey.get(key);
      if (kind === HELLO) {
        if (!producer) this.hello(pid, key);
      } else if (producer) {
        const start = p + HEADER_BYTES;
        if (kind === FRAMES) this.frames(producer, buf, start, end);
        else if (kind === GOODBYE) this.goodbye(producer);
        else this.fragment(producer, buf, kind, start, end);
      }
    }
    this.flushTouched();
  }

  private hello(pid: number, key: number): void {
    const producer: Producer = {
      index: this.core.attach(),
      pid,
      key,
      offsets: new Int32Array(256),
      count: 0,
      fragment: undefined,
      fragmentFill: 0,
      exit: undefined,
      deathMark: 0,
      deathDrains: 0,
      dead: false,
    };
    this.byKey.set(key, producer);
    producer.exit = watchProcessExit(pid, () => this.exited(producer));
  }

  private protocolError(producer: Producer, what: string): ChannelError {
    return new ChannelError("EPROTO", `message queue producer ${producer.index} (pid ${producer.pid}) sent ${what} on ${this.queue.name}`, { producer: producer.index, resource: this.queue.name });
  }

  private frames(producer: Producer, buf: Buffer, start: number, end: number): void {
    const max = this.address.maxMessageSize;
    let q = start;
    let n = producer.count;
    let offsets = producer.offsets;
    if (n === 0) this.touched.push(producer);
    while (q < end) {
      const len = end - q >= FRAME_BYTES ? readU32(buf, q) : -1;
      if (len < 0 || q + FRAME_BYTES + len > end || len > max) {
        producer.count = n;
        return this.lose(producer, this.protocolError(producer, "a malformed packet"));
      }
      if (2 * n + 2 > offsets.length) {
        const grown = new Int32Array(offsets.length * 2);
        grown.set(offsets);
        offsets = producer.offsets = grown;
      }
      offsets[2 * n] = q + FRAME_BYTES;
      offsets[2 * n + 1] = len;
      n++;
      q += FRAME_BYTES + len;
    }
    producer.count = n;
  }

  private fragment(producer: Producer, buf: Buffer, kind: number, start: number, end: number): void {
    if (kind === FRAGMENT_FIRST) {
      const total = end - start >= FRAME_BYTES ? readU32(buf, start) : -1;
      if (producer.fragment || total < 0 || total > this.address.maxMessageSize) return this.lose(producer, this.protocolError(producer, "a malformed fragment"));
      producer.fragment = Buffer.allocUnsafe(total);
      producer.fragmentFill = 0;
      start += FRAME_BYTES;
    } else if (!producer.fragment) {
      return this.lose(producer, this.protocolError(producer, "a stray fragment"));
    }
    const frag = producer.fragment!;
    if (producer.fragmentFill + (end - start) > frag.length) return this.lose(producer, this.protocolError(producer, "more fragment bytes than announced"));
    buf.copy(frag, producer.fragmentFill, start, end);
    producer.fragmentFill += end - start;
    if (producer.fragmentFill === frag.length) {
      producer.fragment = undefined;
      this.flushOne(producer); // earlier messages first
      this.core.push({ count: 1, data: frag, offsets: Int32Array.of(0, frag.length), producer: producer.index });
    }
  }

  private flushOne(producer: Producer): void {
    const n = producer.count;
    if (n === 0) return;
    producer.count = 0;
    this.core.push({ count: n, data: this.arena, offsets: producer.offsets.slice(0, 2 * n), producer: producer.index });
  }

  private flushTouched(): void {
    for (let i = 0; i < this.touched.length; i++) this.flushOne(this.touched[i]!);
    this.touched.length = 0;
  }

  private goodbye(producer: Producer): void {
    this.flushOne(producer);
    this.forget(producer);
    if (producer.fragment) this.core.producerLost(producer.index, this.protocolError(producer, "a goodbye inside a message"));
    else this.core.producerClosed(producer.index);
  }

  private lose(producer: Producer, error: ChannelError): void {
    this.flushOne(producer);
    this.forget(producer);
    this.core.producerLost(producer.index, error);
  }

  private forget(producer: Producer): void {
    this.byKey.delete(producer.key);
    producer.exit?.close();
    producer.exit = undefined;
    const i = this.dying.indexOf(producer);
    if (i >= 0) this.dying.splice(i, 1);
  }

  private exited(producer: Producer): void {
    if (!this.byKey.has(producer.key) || producer.dead) return;
    producer.dead = true;
    producer.exit = undefined;
    producer.deathMark = this.received;
    producer.deathDrains = this.drains;
    this.dying.push(producer);
    this.pump();
  }

  /**
   * Every message a dead producer queued has been received once the queue was
   * found empty after its death, or once a queue's capacity has been received
   * since (all packets share one priority, so the queue is first in, first out).
   */
  private settleDeaths(): void {
    for (let i = 0; i < this.dying.length; ) {
      const p = this.dying[i]!;
      if (this.drains > p.deathDrains || this.received - p.deathMark >= this.queue.maxMessages) {
        const partial = p.fragment ? ` (a partial ${p.fragmentFill}-of-${p.fragment.length}-byte message was discarded)` : "";
        p.fragment = undefined;
        this.lose(p, new ChannelError("EPEERGONE", `message queue producer ${p.index} (pid ${p.pid}) on ${this.queue.name} went away without closing${partial}`, { producer: p.index, resource: this.queue.name }));
      } else {
        i++;
      }
    }
  }

  private breakAll(error: ChannelError): void {
    if (this.broken) return;
    this.broken = error;
    this.watcher.stop();
    this.flushTouched();
    for (const p of [...this.byKey.values()]) this.lose(p, error);
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
  const address: MqueueAddress = { transport: "mqueue", name, maxMessageSize, messageSize: queue.messageSize, maxMessages: queue.maxMessages, pid: process.pid };
  return new MqueueReceiver(address, queue, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens the queue for writing, retrying ENOENT (not created yet) until `timeoutMs`, then ETIMEDOUT. */
async function connect(address: Address, options: ConnectOptions = {}): Promise<Sender> {
  const a = address as MqueueAddress;
  if (a.transport !== "mqueue" || typeof a.name !== "string") throw new TypeError(`not an mqueue address: ${JSON.stringify(address)}`);
  if (!Number.isInteger(a.maxMessageSize) || a.maxMessageSize < 0) throw new TypeError(`mqueue address has no valid maxMessageSize: ${JSON.stringify(address)}`);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    let queue: MqHandle;
    try {
      queue = mqOpen(a.name, { access: "write" });
    } catch (err) {
      if ((err as ChannelError).code !== "ENOENT") throw err;
      if (Date.now() >= deadline) {
        throw new ChannelError("ETIMEDOUT", `cannot attach to message queue ${a.name}: no receiver within ${timeoutMs} ms`, { errno: "ENOENT", syscall: "mq_open", resource: a.name, cause: err });
      }
      await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
      delay = Math.min(delay * 2, 100);
      continue;
    }
    if (queue.messageSize < MQUEUE_MIN_MSGSIZE) {
      mqClose(queue.mqd);
      throw new ChannelError("ELIMIT", `cannot use message queue ${a.name}: its mq_msgsize is ${queue.messageSize} bytes, under ${MQUEUE_MIN_MSGSIZE}`, { resource: a.name });
    }
    try {
      return new MqueueSender(queue, typeof a.pid === "number" ? a.pid : 0, a.maxMessageSize);
    } catch (err) {
      mqClose(queue.mqd);
      throw err;
    }
  }
}

/**
 * Queues whose name starts with `prefix`, as `/name`. Linux lists queues only
 * through a mounted mqueue file system (`mount -t mqueue none /dev/mqueue`);
 * without one this returns [] (see mqueueMountPoint in @ipc-sampler/posix).
 */
async function list(prefix = DEFAULT_PREFIX, directory?: string): Promise<string[]> {
  validatePrefix(prefix);
  return directory === undefined ? mqList(prefix) : mqList(prefix, directory);
}

/** Unlinks queues with this prefix whose owner process (the pid in the name) is gone; returns their names. */
async function removeStale(prefix = DEFAULT_PREFIX, directory?: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await list(prefix, directory)) {
    const pid = ownerPidOf(name, prefix);
    if (pid !== undefined && !isProcessAlive(pid)) {
      try {
        mqUnlink(name);
        removed.push(name);
      } catch {
        // raced with someone else
      }
    }
  }
  return removed;
}

/** The kernel limits this machine imposes on unprivileged queues (/proc/sys/fs/mqueue). */
export function mqueueLimits(): { maxMessages: number; messageSize: number; queues: number } {
  const l = mqLimits();
  return { maxMessages: l.msgMax, messageSize: l.msgsizeMax, queues: l.queuesMax };
}

export const mqueueTransport: Transport<MqueueListenOptions> = { descriptor: mqueueDescriptor, listen, connect, list, removeStale };
