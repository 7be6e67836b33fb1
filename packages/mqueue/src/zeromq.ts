import { existsSync, readFileSync, readdirSync, unlinkSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import {
  ChannelError,
  CoreReceiver,
  DEFAULT_PREFIX,
  FRAME_HEADER_BYTES,
  ReceiverCore,
  UNIX_PATH_MAX,
  fromSystemError,
  isProcessAlive,
  ownerPidOf,
  pathIsSocket,
  parseFrames,
  removeOnExit,
  uniqueName,
  validateName,
  validatePrefix,
  writeFrameHeader,
  messageTooLarge,
  senderClosed,
  writeOrDrain,
  type Address,
  type Admission,
  type ConnectOptions,
  type ListenOptions,
  type MechanismDescriptor,
  type ParsedFrames,
  type Receiver,
  type Sender,
  type Transport,
} from "@ipc-sampler/core";
import { Dealer, Pull, Push, Router } from "zeromq";

/**
 * ZeroMQ PUSH/PULL behind the ipc-sampler interface. The receiver binds one
 * PULL socket (ipc:// by default, tcp:// when asked); every producer
 * connects a PUSH socket to it. Many small messages travel coalesced in one
 * ZeroMQ message:
 *
 *   header (20 bytes, little-endian)
 *     u8  magic 0x5a, u8 version 1, u8 kind, u8 reserved
 *     u32 producer pid, u32 producer session (random), u32 sequence, u32 frame count
 *   then, for DATA, `count` frames of [u32 length][bytes] (core framing)
 *
 * Kinds: HELLO (body: JSON {host, pid}), DATA, GOODBYE, HEARTBEAT. The
 * sequence numbers every ZeroMQ message of a producer, so the receiver sees
 * a gap if ZeroMQ ever dropped one (it can after a reconnect).
 *
 * A second, tiny channel runs the other way: the receiver binds a ROUTER
 * (`ackEndpoint`), each producer connects a DEALER whose routing id is
 * `<pid>.<session>`: a producer registers there with a HELLO while it
 * connects, and the receiver answers that and, later, its GOODBYE. A producer
 * keeps its PUSH connection open until that answer: libzmq discards bytes
 * still unread in the kernel when a paused connection (at ZMQ_RCVHWM) sees
 * its peer hang up, so a producer that exits straight after its last send
 * could lose its final batches.
 */

/** Default largest message: 16 MiB, one ZeroMQ message of its own. */
export const ZEROMQ_MAX_MESSAGE = 16 * 1024 * 1024;
/** Largest maxMessageSize a receiver accepts (Buffer and frame-length bounds keep it well under 2 GiB). */
export const ZEROMQ_MAX_MESSAGE_CEILING = 1024 * 1024 * 1024;

const MAGIC = 0x5a;
const VERSION = 1;
const KIND_HELLO = 1;
const KIND_DATA = 2;
const KIND_GOODBYE = 3;
const KIND_HEARTBEAT = 4;
const HEADER_BYTES = 20;
/** Size of one coalesced ZeroMQ message. */
const CHUNK = 1024 * 1024;
/** Below this, a flushed chunk is copied out and the chunk reused (ZeroMQ keeps sent buffers). */
const SMALL_FLUSH = 16 * 1024;
/** Bytes waiting in this process (not yet taken by ZeroMQ) before write() returns false. */
const JS_HIGH_WATER = 4 * 1024 * 1024;
const DEFAULT_HWM = 4;
const DEFAULT_RCV_HWM = 16;
const HEARTBEAT_MS = 1000;
const GRACE_MS = 3 * HEARTBEAT_MS;
const DEFAULT_LINGER_MS = 10_000;
const RECHECK_FIRST_MS = 10;
/** How long a gone process's last bytes may trail its disconnect event. */
const SETTLE_MS = 150;
const RECHECK_MAX_MS = 640;
/** A GOODBYE can overtake the ROUTER's registration of that producer's DEALER: retry the answer, backing off, for about this long. */
const ACK_RETRY_MS = 5000;
/** How long the receiver's ROUTER may still deliver answers after close(). */
const ACK_LINGER_MS = 2000;
/** How long a producer waiting for that answer still expects it after a disconnect event. */
const ACK_GRACE_MS = 500;

export const zeromqDescriptor: MechanismDescriptor = {
  id: "zeromq",
  mechanism: "ZeroMQ PUSH/PULL queue",
  kernelInterface: "socket(AF_UNIX | AF_INET, SOCK_STREAM) via libzmq",
  persistence: "process",
  naming: "endpoint",
  direction: "one-way",
  messageBoundaries: true,
  copiesPerMessage: 3,
  maxMessageSize: ZEROMQ_MAX_MESSAGE,
  relatedProcessesOnly: false,
  crossesMachines: true,
  summary: "A brokerless message queue library: PUSH sockets fan in to one PULL socket over ipc:// or tcp://, queued by high-water marks.",
};

export interface ZeromqAddress extends Address {
  readonly transport: "zeromq";
  /** ZeroMQ endpoint to connect to: `ipc:///tmp/ipcs-zmq-….zmq` or `tcp://127.0.0.1:40123`. */
  readonly endpoint: string;
  /** The receiver's ROUTER, where a producer's DEALER hears that its goodbye arrived: `ipc:///tmp/ipcs-zmq-….ack.zmq` or `tcp://…`. */
  readonly ackEndpoint?: string;
}

export interface ZeromqListenOptions extends ListenOptions {
  /**
   * zmq_bind(3) endpoint. `"ipc"` (default): a fresh socket file in
   * `directory`; `"tcp"`: tcp://127.0.0.1 on a port the kernel picks; or a
   * full endpoint, `ipc:///path` or `tcp://host:port` (port 0 or `*`: any).
   */
  listen?: "ipc" | "tcp" | string;
  /** Directory of the ipc socket file (default os.tmpdir()). */
  directory?: string;
  /** File mode of the ipc socket file (default 0o600: only this user may connect). */
  mode?: number;
  /** ZMQ_RCVHWM — zmq_setsockopt(3). ZeroMQ messages (batches of up to 1 MiB) queued per producer on the receiving side before that producer's send() waits (default 16). */
  rcvHwm?: number;
  /** For tcp:// bound to a wildcard host: the host name producers should use (default os.hostname()). */
  advertiseHost?: string;
}

export interface ZeromqConnectOptions extends ConnectOptions {
  /** ZMQ_SNDHWM — zmq_setsockopt(3). ZeroMQ messages (batches of up to 1 MiB) queued in libzmq before sending waits (default 4). */
  sndHwm?: number;
  /** ZMQ_LINGER — zmq_setsockopt(3). How long queued messages may still go out if close() gives up (ms, default 10 000). */
  lingerMs?: number;
  /** Bytes waiting in this process, not yet taken by libzmq, before write() returns false (default 4 MiB). */
  highWaterMark?: number;
}

function positiveInt(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer; got ${value}`);
  return value;
}

/** The routing id of a producer's DEALER on the receiver's ROUTER. */
function ackRoutingId(pid: number, session: number): string {
  return `${pid}.${session}`;
}

/** HELLO: the header (sequence 0) and a JSON body saying where the producer runs. */
function helloMessage(pid: number, session: number): Buffer {
  const body = Buffer.from(JSON.stringify({ host: hostname(), pid }));
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  body.copy(buf, HEADER_BYTES);
  writeHeader(buf, KIND_HELLO, pid, session, 0, 0);
  return buf;
}

function writeHeader(buf: Buffer, kind: number, pid: number, session: number, seq: number, count: number): void {
  buf[0] = MAGIC;
  buf[1] = VERSION;
  buf[2] = kind;
  buf[3] = 0;
  buf.writeUInt32LE(pid, 4);
  buf.writeUInt32LE(session, 8);
  buf.writeUInt32LE(seq, 12);
  buf.writeUInt32LE(count, 16);
}

/** PF_EXITING in /proc/<pid>/stat's flags: the process is dying (its descriptors close before it turns zombie). */
const PF_EXITING = 0x4;

/** True when `pid` is gone, dying, or a zombie (dead but not yet reaped by its parent). */
function taskGone(statFile: string): boolean {
  let stat: string;
  try {
    stat = readFileSync(statFile, "latin1");
  } catch {
    return true;
  }
  // Fields after "(comm)": state ppid pgrp session tty_nr tpgid flags …
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const flags = Number(fields[6]);
  return state === "Z" || state === "X" || (Number.isFinite(flags) && (flags & PF_EXITING) !== 0);
}

/**
 * Gone, or going: every thread of the process is dead or exiting. Threads
 * count: at exit, libzmq's I/O threads still write the last queued batches
 * after Node's main thread has finished.
 */
function processGone(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return !isProcessAlive(pid);
  }
  return tasks.every((t) => taskGone(`/proc/${pid}/task/${t}/stat`));
}

// ---------------------------------------------------------------------------
// Sender

class ZeromqSender implements Sender {
  readonly maxMessageSize: number;
  private readonly pid = process.pid;
  private seq = 0;
  private chunk = Buffer.allocUnsafeSlow(CHUNK);
  private pos = HEADER_BYTES;
  private count = 0;
  private flushScheduled = false;
  private queue: Buffer[] = [];
  private qHead = 0;
  private queuedBytes = 0;
  private pumping = false;
  private lastQueued = Date.now();
  private failure: ChannelError | undefined;
  private closing: Promise<void> | undefined;
  private isClosed = false;
  private socketClosed = false;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private ackFailed: ((e: unknown) => void) | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly flushNow = () => {
    this.flushScheduled = false;
    this.flushChunk();
  };

  constructor(
    private readonly push: Push,
    /** Where the receiver answers this producer's GOODBYE (absent: a receiver without one). */
    private readonly ack: Dealer | undefined,
    private readonly session: number,
    private readonly endpoint: string,
    maxMessageSize: number,
    private readonly highWater: number,
    private readonly lingerMs: number,
  ) {
    this.maxMessageSize = maxMessageSize;
    const gone = () => {
      if (this.isClosed || this.failure) return;
      const error = new ChannelError("EPEERGONE", `cannot send to ${endpoint}: the receiver went away`, { resource: endpoint });
      // Until close() finishes (isClosed), its goodbye still waits for the answer.
      if (!this.closing || !this.ack) return this.fail(error);
      // A receiver that read the goodbye may close at once: its answer is on
      // the way, and the disconnect events can overtake it. Give it a moment.
      const t = setTimeout(() => {
        if (!this.isClosed) this.fail(error);
      }, ACK_GRACE_MS);
      t.unref();
    };
    push.events.on("disconnect", gone);
    ack?.events.on("disconnect", gone);
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** First message on the connection: who this producer is. */
  hello(): void {
    this.enqueue(helloMessage(this.pid, this.session), KIND_HELLO, 0);
  }

  private beat(): void {
    if (this.failure || this.closing || this.pumping || this.pos > HEADER_BYTES) return;
    // Half the period, so an idle producer is heard from about every HEARTBEAT_MS whatever the timer's phase.
    if (Date.now() - this.lastQueued < HEARTBEAT_MS / 2 || !this.push.writable) return;
    this.enqueue(Buffer.allocUnsafe(HEADER_BYTES), KIND_HEARTBEAT, 0);
  }

  private fail(err: ChannelError): void {
    if (this.failure) return;
    this.failure = err;
    clearInterval(this.heartbeat);
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.reject(err);
    this.ackFailed?.(err);
    this.queue = [];
    this.qHead = 0;
    this.queuedBytes = 0;
    this.closeSocket(0);
  }

  private closeSocket(linger: number): void {
    if (this.socketClosed) return;
    this.socketClosed = true;
    clearInterval(this.heartbeat);
    try {
      this.push.linger = linger;
    } catch {
      // closing anyway
    }
    this.push.close();
    this.ack?.close();
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.isClosed || this.closing) throw senderClosed(this.endpoint);
  }

  write(message: Uint8Array): boolean {
    this.check();
    const len = message.length;
    if (len > this.maxMessageSize) {
      throw messageTooLarge(len, this.maxMessageSize, this.endpoint);
    }
    const need = FRAME_HEADER_BYTES + len;
    if (need > CHUNK - this.pos) {
      this.flushChunk();
      if (need > CHUNK - HEADER_BYTES) {
        // Too large for a chunk: a ZeroMQ message of its own.
        const big = Buffer.allocUnsafe(HEADER_BYTES + need);
        writeFrameHeader(big, HEADER_BYTES, len);
        big.set(message, HEADER_BYTES + FRAME_HEADER_BYTES);
        this.enqueue(big, KIND_DATA, 1);
        return this.queuedBytes <= this.highWater;
      }
    }
    const chunk = this.chunk;
    const pos = this.pos;
    chunk[pos] = len & 0xff;
    chunk[pos + 1] = (len >>> 8) & 0xff;
    chunk[pos + 2] = (len >>> 16) & 0xff;
    chunk[pos + 3] = (len >>> 24) & 0xff;
    chunk.set(message, pos + FRAME_HEADER_BYTES);
    this.pos = pos + need;
    this.count++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
    // The open chunk is bounded (CHUNK) and goes out on the next turn; only
    // batches libzmq has not taken yet count as pressure.
    return this.queuedBytes <= this.highWater;
  }

  private flushChunk(): void {
    if (this.count === 0 || this.failure) return;
    const used = this.pos;
    let out: Buffer;
    if (used <= SMALL_FLUSH) {
      // libzmq keeps a sent buffer until it is on the wire: copy a small
      // batch out and keep the chunk, rather than give away 256 KiB.
      out = Buffer.allocUnsafe(used);
      this.chunk.copy(out, 0, 0, used);
    } else {
      out = this.chunk.subarray(0, used);
      this.chunk = Buffer.allocUnsafeSlow(CHUNK);
    }
    const count = this.count;
    this.pos = HEADER_BYTES;
    this.count = 0;
    this.enqueue(out, KIND_DATA, count);
  }

  private enqueue(buf: Buffer, kind: number, count: number): void {
    writeHeader(buf, kind, this.pid, this.session, this.seq, count);
    this.seq = (this.seq + 1) >>> 0;
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    this.lastQueued = Date.now();
    if (!this.pumping) void this.pump();
  }

  /** Hands queued batches to libzmq, one at a time; send() waits while the socket is at its high-water mark. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.qHead < this.queue.length && !this.failure) {
        const buf = this.queue[this.qHead]!;
        await this.push.send(buf);
        if (this.failure) break;
        this.queue[this.qHead++] = undefined as never;
        this.queuedBytes -= buf.length;
        if (this.qHead > 256 && this.qHead * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.qHead);
          this.qHead = 0;
        }
        this.wake();
      }
      if (this.qHead >= this.queue.length) {
        this.queue = [];
        this.qHead = 0;
      }
    } catch (err) {
      // A send that fails on a connected PUSH socket means the connection is
      // gone (the disconnect event may not have arrived yet).
      const sys = fromSystemError(err, "send to", this.endpoint);
      this.fail(
        this.failure ??
          (sys.code === "ESYSCALL" || sys.code === "EPEERGONE"
            ? new ChannelError("EPEERGONE", `cannot send to ${this.endpoint}: the receiver went away (${sys.errno ?? sys.message})`, { errno: sys.errno, syscall: "zmq_msg_send", resource: this.endpoint, cause: err })
            : sys),
      );
    } finally {
      this.pumping = false;
    }
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0 || this.queuedBytes > this.highWater) return;
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.resolve();
  }

  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.flushChunk();
    if (this.queuedBytes <= this.highWater) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  send(message: Uint8Array): Promise<void> {
    return writeOrDrain(this, message);
  }

  /** Resolves when libzmq has taken every queued batch. */
  private allTaken(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.queuedBytes === 0 && !this.pumping) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.failure) return reject(this.failure);
        if (this.queuedBytes === 0 && !this.pumping) return resolve();
        this.waiters.push({ resolve: () => setImmediate(check), reject });
      };
      check();
    });
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.failure) {
      this.isClosed = true;
      this.closeSocket(0);
      this.closing = Promise.reject(this.failure);
      return this.closing;
    }
    this.closing = (async () => {
      this.flushChunk();
      this.enqueue(Buffer.allocUnsafe(HEADER_BYTES), KIND_GOODBYE, 0);
      try {
        await this.allTaken();
        // Hold the connection open until the receiver has read the goodbye
        // (and so everything before it): see the note at the top.
        if (this.ack) await this.acknowledged(this.ack);
      } finally {
        this.isClosed = true;
      }
      // libzmq still writes what it holds after close, for up to lingerMs.
      this.closeSocket(this.lingerMs);
    })();
    return this.closing;
  }

  /** Resolves on the receiver's answer to GOODBYE; rejects when either connection drops first. */
  private acknowledged(ack: Dealer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.ackFailed = reject;
      ack.receive().then(
        () => resolve(),
        (err: unknown) => reject(this.failure ?? fromSystemError(err, "receive from", this.endpoint)),
      );
    });
  }
}

// ---------------------------------------------------------------------------
// Receiver

interface ProducerState {
  readonly index: number;
  readonly pid: number;
  /** On this machine, so its pid can be checked. */
  readonly local: boolean;
  nextSeq: number;
  lastSeen: number;
  done: boolean;
  /** When its process was first seen gone (0: not yet). */
  goneAt: number;
}

class ZeromqReceiver extends CoreReceiver {
  private settleTimer: NodeJS.Timeout | undefined;
  private receiving = false;
  private readonly ackRetries = new Set<NodeJS.Timeout>();
  readonly core: ReceiverCore;
  private readonly producerMap = new Map<number, ProducerState>();
  private readonly active = new Set<ProducerState>();
  private connections = 0;
  private paused = false;
  private kick: (() => void) | undefined;
  private checkRequested = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  private recheckDelay = 0;
  private readonly parsed: ParsedFrames = { count: 0, consumed: 0, goodbye: false, oversized: 0 };
  private readonly host = hostname();

  constructor(
    readonly address: ZeromqAddress,
    private readonly pull: Pull,
    private readonly router: Router,
    private readonly localOnly: boolean,
    options: { expectedProducers?: number | undefined; onPeerLost?: ((e: ChannelError) => void) | undefined; cleanup: () => void },
  ) {
    super();
    this.core = new ReceiverCore({
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      onPressure: (high) => {
        this.paused = high;
        if (!high) this.wakeLoop();
      },
      close: () => {
        clearTimeout(this.graceTimer);
        clearTimeout(this.recheckTimer);
        this.graceTimer = this.recheckTimer = undefined;
        for (const t of this.ackRetries) clearTimeout(t);
        this.ackRetries.clear();
        this.wakeLoop();
        this.pull.linger = 0;
        this.pull.close();
        // Answers already queued still go out, for up to ACK_LINGER_MS.
        this.router.close();
        options.cleanup();
      },
    });
    pull.events.on("accept", () => {
      this.connections++;
    });
    pull.events.on("disconnect", () => {
      this.connections--;
      this.requestCheck();
    });
    void this.readLoop();
    void this.answerLoop();
  }

  async admit(): Promise<Admission> {
    if (this.core.closed) throw new ChannelError("ECLOSED", `cannot admit a producer to ${this.address.endpoint}: the receiver is closed`, { resource: this.address.endpoint });
    return { address: this.address, inherit: [], release: () => {} };
  }

  private wakeLoop(): void {
    const k = this.kick;
    this.kick = undefined;
    k?.();
  }

  /**
   * A connection closed. Everything that producer sent before is already
   * queued in libzmq, so read until nothing is readable, then decide who
   * is gone.
   */
  private requestCheck(): void {
    if (this.core.closed) return;
    // Never ask ZMQ_EVENTS while a receive waits: reading it consumes the
    // edge of libzmq's notification descriptor, and the waiting receive
    // would then sleep through the producer's last batches.
    if (this.receiving) {
      this.checkPeers();
    } else if (this.pull.readable) {
      this.checkRequested = true;
      this.wakeLoop();
    } else {
      this.checkPeers();
    }
  }

  private async readLoop(): Promise<void> {
    while (!this.core.closed) {
      if (this.checkRequested && !this.pull.readable) {
        this.checkRequested = false;
        this.checkPeers();
        continue;
      }
      if (this.paused && !this.checkRequested) {
        await new Promise<void>((resolve) => (this.kick = resolve));
        continue;
      }
      let parts: Buffer[];
      try {
        this.receiving = true;
        parts = await this.pull.receive();
        this.receiving = false;
      } catch (err) {
        this.receiving = false;
        if (this.core.closed) return;
        // Only a closed socket or a broken context ends up here.
        const error = fromSystemError(err, "receive from", this.address.endpoint);
        for (const p of this.active) this.lose(p, error);
        return;
      }
      if (parts.length === 1) this.handle(parts[0]!);
    }
  }

  /**
   * The ROUTER's inbound side: a producer's HELLO, sent over its DEALER while
   * it connects. Registering it here, whatever the data side's pressure, lets
   * connect() resolve promptly and makes the producer known before any data.
   */
  private async answerLoop(): Promise<void> {
    while (!this.core.closed) {
      let parts: Buffer[];
      try {
        parts = await this.router.receive();
      } catch {
        return; // closed
      }
      const [id, msg] = parts;
      if (parts.length !== 2 || !msg || msg.length < HEADER_BYTES || msg[2] !== KIND_HELLO) continue;
      this.handle(msg);
      this.answer(id!.toString("latin1"), 0, 0);
    }
  }

  private handle(msg: Buffer): void {
    if (msg.length < HEADER_BYTES || msg[0] !== MAGIC || msg[1] !== VERSION) return; // not ours
    const kind = msg[2]!;
    const pid = msg.readUInt32LE(4);
    const key = pid * 0x100000000 + msg.readUInt32LE(8);
    const seq = msg.readUInt32LE(12);
    let p = this.producerMap.get(key);
    if (kind === KIND_HELLO) {
      if (p || seq !== 0) return;
      let host = "";
      try {
        host = String((JSON.parse(msg.toString("utf8", HEADER_BYTES)) as { host?: unknown }).host ?? "");
      } catch {
        // a hello without a readable body: treat as remote
      }
      p = { index: this.core.attach(), pid, local: this.localOnly || host === this.host, nextSeq: 1, lastSeen: Date.now(), done: false, goneAt: 0 };
      this.producerMap.set(key, p);
      this.active.add(p);
      // Its connection may have closed before this HELLO was read (libzmq still
      // delivers what the connection carried): the disconnect event's check found
      // no one to look for then, so look now.
      if (this.active.size > this.connections) this.requestCheck();
      return;
    }
    if (!p || p.done) return;
    const what = `zeromq producer ${p.index} (pid ${pid})`;
    if (seq !== p.nextSeq) {
      return this.lose(p, new ChannelError("EPROTO", `${what} on ${this.address.endpoint}: ${(seq - p.nextSeq) >>> 0} batches of messages were lost in transit (expected batch ${p.nextSeq}, got ${seq})`, { producer: p.index, resource: this.address.endpoint }));
    }
    p.nextSeq = (seq + 1) >>> 0;
    p.lastSeen = Date.now();
    if (kind === KIND_DATA) {
      const count = msg.readUInt32LE(16);
      if (count === 0) return;
      const offsets = new Int32Array(2 * count);
      const parsed = parseFrames(msg, HEADER_BYTES, msg.length, this.address.maxMessageSize, offsets, this.parsed);
      if (parsed.count !== count || parsed.consumed !== msg.length || parsed.goodbye) {
        const why = parsed.oversized ? `a frame of ${parsed.oversized} bytes, over the ${this.address.maxMessageSize}-byte limit` : `a malformed batch (${parsed.count} of ${count} frames readable)`;
        return this.lose(p, new ChannelError("EPROTO", `${what} sent ${why}`, { producer: p.index, resource: this.address.endpoint }));
      }
      this.core.push({ count, data: msg, offsets, producer: p.index });
    } else if (kind === KIND_GOODBYE) {
      p.done = true;
      this.active.delete(p);
      this.core.producerClosed(p.index);
      this.answer(ackRoutingId(pid, msg.readUInt32LE(8)), 0, 0);
    }
  }

  /**
   * Tells the producer its hello or goodbye arrived (registered, or free to
   * hang up). Its DEALER connected before its first batch, but the ROUTER may
   * register it a moment after a goodbye is read: EHOSTUNREACH is retried, backing off.
   */
  private answer(routingId: string, attempt: number, waited: number): void {
    if (this.core.closed) return;
    this.router.send([routingId, ""]).catch((err: { code?: string }) => {
      if (this.core.closed || (err?.code !== "EHOSTUNREACH" && err?.code !== "EAGAIN")) return;
      const delay = Math.min(5 * 2 ** attempt, 500);
      if (waited + delay > ACK_RETRY_MS) return; // not an ipc-sampler producer (no DEALER): it does not wait
      const t = setTimeout(() => {
        this.ackRetries.delete(t);
        this.answer(routingId, attempt + 1, waited + delay);
      }, delay);
      t.unref();
      this.ackRetries.add(t);
    });
  }

  private lose(p: ProducerState, error: ChannelError): void {
    if (p.done) return;
    p.done = true;
    this.active.delete(p);
    this.core.producerLost(p.index, error);
  }

  /**
   * Who went away? Producers on this machine: the ones whose process is
   * gone. Others (another machine, or a live process whose connection
   * dropped): when fewer connections remain than producers, the ones not
   * heard from (data or heartbeat) for GRACE_MS.
   */
  private checkPeers(): void {
    if (this.core.closed) return;
    const now = Date.now();
    let unsettled = false;
    // Only as many producers can be lost as connections have closed: a gone
    // process whose connection is still open has bytes left to read.
    let closedConnections = this.active.size - this.connections;
    const gone = [...this.active].filter((p) => p.local && processGone(p.pid)).sort((a, b) => a.lastSeen - b.lastSeen);
    for (const p of gone) {
      // Its last batches (and goodbye) can trail the disconnect event: lost
      // means gone, its connection closed, and nothing from it for SETTLE_MS.
      if (p.goneAt === 0) p.goneAt = now;
      if (closedConnections > 0 && now - p.goneAt >= SETTLE_MS && now - p.lastSeen >= SETTLE_MS && !this.paused) {
        closedConnections--;
        this.lose(p, new ChannelError("EPEERGONE", `zeromq producer ${p.index} (pid ${p.pid}) on ${this.address.endpoint} went away without closing`, { producer: p.index, resource: this.address.endpoint }));
      } else {
        unsettled = true;
      }
    }
    if (unsettled && !this.settleTimer) {
      this.settleTimer = setTimeout(() => {
        this.settleTimer = undefined;
        this.requestCheck();
      }, SETTLE_MS);
      this.settleTimer.unref();
    }
    if (this.active.size <= this.connections) {
      this.recheckDelay = 0;
      return;
    }
    // A dying process closes its sockets a moment before /proc shows it
    // dead: look again shortly, backing off, before relying on silence.
    if (!this.recheckTimer && this.recheckDelay < RECHECK_MAX_MS) {
      this.recheckDelay = Math.max(RECHECK_FIRST_MS, this.recheckDelay * 2);
      this.recheckTimer = setTimeout(() => {
        this.recheckTimer = undefined;
        this.checkPeers();
      }, this.recheckDelay);
      this.recheckTimer.unref();
    }
    if (!this.graceTimer) {
      this.graceTimer = setTimeout(() => this.afterGrace(), GRACE_MS);
      this.graceTimer.unref();
    }
  }

  private afterGrace(): void {
    this.graceTimer = undefined;
    if (this.core.closed) return;
    const missing = this.active.size - this.connections;
    if (missing <= 0) return;
    if (this.paused || this.pull.readable) {
      // Not reading now, so silence proves nothing yet.
      this.graceTimer = setTimeout(() => this.afterGrace(), GRACE_MS);
      this.graceTimer.unref();
      return;
    }
    const silentSince = Date.now() - GRACE_MS;
    const silent = [...this.active].filter((p) => p.lastSeen < silentSince).sort((a, b) => a.lastSeen - b.lastSeen);
    for (const p of silent.slice(0, missing)) {
      this.lose(p, new ChannelError("EPEERGONE", `zeromq producer ${p.index} (pid ${p.pid}) on ${this.address.endpoint} disconnected without closing and was not heard from for ${GRACE_MS} ms`, { producer: p.index, resource: this.address.endpoint }));
    }
    if (this.active.size > this.connections) {
      this.graceTimer = setTimeout(() => this.afterGrace(), GRACE_MS);
      this.graceTimer.unref();
    }
  }
}

// ---------------------------------------------------------------------------
// Transport

const IPC_SUFFIX = ".zmq";

const IPC_ACK_SUFFIX = ".ack.zmq";

function checkIpcPath(p: string): string {
  if (Buffer.byteLength(p) >= UNIX_PATH_MAX) {
    throw new ChannelError("EINVALIDNAME", `invalid ipc socket path ${p}: longer than ${UNIX_PATH_MAX - 1} bytes (sun_path limit); use a shorter directory or name`, { resource: p });
  }
  if (existsSync(p)) {
    throw new ChannelError("EEXIST", `cannot create ZeroMQ ipc socket ${p}: it already exists (remove it, or use removeStale() if its owner crashed)`, { resource: p });
  }
  return p;
}

/** The data socket's file and the acknowledgement socket's file beside it. */
function ipcPaths(options: ZeromqListenOptions, prefix: string): [string, string] {
  let p: string;
  if (options.listen && options.listen.startsWith("ipc://")) {
    p = path.resolve(options.listen.slice("ipc://".length));
    validateName(path.basename(p), "ipc socket");
  } else {
    p = path.join(options.directory ?? tmpdir(), uniqueName(prefix, "zmq") + IPC_SUFFIX);
  }
  const ack = p.endsWith(IPC_SUFFIX) ? p.slice(0, -IPC_SUFFIX.length) + IPC_ACK_SUFFIX : p + ".ack";
  return [checkIpcPath(p), checkIpcPath(ack)];
}

function tcpEndpoint(spec: string): string {
  if (spec === "tcp") return "tcp://127.0.0.1:*";
  const m = /^tcp:\/\/(.+):(\d+|\*)$/.exec(spec);
  if (!m) throw new TypeError(`listen must be "ipc", "tcp", "ipc:///path" or "tcp://host:port"; got ${JSON.stringify(spec)}`);
  const port = m[2] === "*" ? "*" : Number(m[2]);
  if (port !== "*" && (port > 65535 || port < 0)) throw new RangeError(`port must be an integer from 0 to 65535; got ${port}`);
  return `tcp://${m[1]}:${port === 0 ? "*" : port}`;
}

/** zmq_bind(3) to a socket file, created with `mode` from the start (libzmq binds in this thread: a narrowed umask applies). */
function bindIpc(socket: Pull | Router, file: string, mode: number): string {
  const endpoint = `ipc://${file}`;
  const old = process.umask(0o777 & ~mode);
  try {
    socket.bindSync(endpoint);
  } finally {
    process.umask(old);
  }
  return endpoint;
}

/** zmq_bind(3) to a tcp endpoint; returns the endpoint producers should connect to. */
async function bindTcp(socket: Pull | Router, bindTo: string, advertiseHost: string | undefined): Promise<string> {
  await socket.bind(bindTo);
  const endpoint = socket.lastEndpoint ?? bindTo;
  const m = /^tcp:\/\/(.+):(\d+)$/.exec(endpoint);
  if (m && (m[1] === "0.0.0.0" || m[1] === "[::]" || m[1] === "*")) return `tcp://${advertiseHost ?? hostname()}:${m[2]}`;
  return endpoint;
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

async function listen(options: ZeromqListenOptions = {}): Promise<Receiver> {
  const maxMessageSize = options.maxMessageSize ?? ZEROMQ_MAX_MESSAGE;
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > ZEROMQ_MAX_MESSAGE_CEILING) {
    throw new RangeError(`maxMessageSize must be an integer from 0 to ${ZEROMQ_MAX_MESSAGE_CEILING}; got ${maxMessageSize}`);
  }
  const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
  const spec = options.listen ?? "ipc";
  const isIpc = spec === "ipc" || spec.startsWith("ipc://");
  const rcvHwm = positiveInt(options.rcvHwm, DEFAULT_RCV_HWM, "rcvHwm");
  const pull = new Pull({
    receiveHighWaterMark: rcvHwm,
    // ZMQ_MAXMSGSIZE: a peer sending more than one batch can hold is cut off.
    maxMessageSize: Math.max(CHUNK, HEADER_BYTES + FRAME_HEADER_BYTES + maxMessageSize),
    // No ZMTP heartbeats from the receiving side: a PING written to a
    // producer that has exited fails, and libzmq then drops the connection
    // with whatever it had not yet read (its pipe was full). Silence is
    // caught by the producers' own heartbeat batches instead (GRACE_MS).
  });
  // Answers to goodbyes. Mandatory: an answer to a DEALER the ROUTER has not
  // registered yet fails (EHOSTUNREACH) and is retried instead of dropped.
  // sendTimeout 0: a send never waits, so answers never queue behind each other.
  const router = new Router({ mandatory: true, sendTimeout: 0, linger: ACK_LINGER_MS, maxMessageSize: 1024 });
  let endpoint: string;
  let ackEndpoint: string;
  const files: string[] = [];
  try {
    if (isIpc) {
      const [file, ackFile] = ipcPaths(options, prefix);
      const mode = options.mode ?? 0o600;
      endpoint = bindIpc(pull, file, mode);
      files.push(file);
      ackEndpoint = bindIpc(router, ackFile, mode);
      files.push(ackFile);
    } else {
      const bindTo = tcpEndpoint(spec);
      endpoint = await bindTcp(pull, bindTo, options.advertiseHost);
      ackEndpoint = await bindTcp(router, bindTo.replace(/:(\d+|\*)$/, ":*"), options.advertiseHost);
    }
  } catch (err) {
    for (const s of [pull, router]) {
      s.linger = 0;
      s.close();
    }
    for (const f of files) unlinkQuietly(f);
    if (err instanceof ChannelError || err instanceof TypeError || err instanceof RangeError) throw err;
    throw fromSystemError(err, "bind ZeroMQ socket to", files[0] ?? spec);
  }
  const unregister = files.length ? removeOnExit(() => files.forEach(unlinkQuietly)) : () => {};
  const address: ZeromqAddress = { transport: "zeromq", endpoint, ackEndpoint, maxMessageSize };
  return new ZeromqReceiver(address, pull, router, isIpc, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    cleanup: () => {
      // libzmq unlinks them too, later, on its I/O thread.
      files.forEach(unlinkQuietly);
      unregister();
    },
  });
}

async function connect(address: Address, options: ZeromqConnectOptions = {}): Promise<Sender> {
  const a = address as ZeromqAddress;
  const endpointLike = (e: unknown) => typeof e === "string" && /^(ipc|tcp):\/\//.test(e);
  if (a.transport !== "zeromq" || !endpointLike(a.endpoint) || (a.ackEndpoint !== undefined && !endpointLike(a.ackEndpoint))) {
    throw new TypeError(`not a zeromq address: ${JSON.stringify(address)}`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const push = new Push({
    sendHighWaterMark: positiveInt(options.sndHwm, DEFAULT_HWM, "sndHwm"),
    // Queue only on a completed connection: no silent queue towards a receiver that is not there.
    immediate: true,
    linger: 0,
    // No ZMTP heartbeats either way: the receiver answers a PING with a
    // PONG, and a PONG written to a producer that has just exited fails and
    // makes libzmq drop the connection with its unread last batches.
  });
  const session = (Math.random() * 0x100000000) >>> 0;
  const ack = typeof a.ackEndpoint === "string" ? new Dealer({ routingId: ackRoutingId(process.pid, session), linger: 0 }) : undefined;
  const sockets = ack ? [push, ack] : [push];
  const handshakes = sockets.map((s) => new Promise<void>((resolve) => s.events.on("handshake", () => resolve())));
  try {
    push.connect(a.endpoint);
    ack?.connect(a.ackEndpoint!);
  } catch (err) {
    for (const s of sockets) s.close();
    throw fromSystemError(err, "connect to", a.endpoint);
  }
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  // With an answer channel, the receiver registers this producer (and answers)
  // before connect() resolves, so it knows whom to report lost even if this
  // process dies with its first batches still inside libzmq.
  const registered = ack
    ? () =>
        ack
          .send(helloMessage(process.pid, session))
          .then(() => ack.receive())
          .then(() => true)
    : () => true;
  const ok = await Promise.race([Promise.all(handshakes).then(registered), expired]).catch((err: unknown) => {
    clearTimeout(timer);
    for (const s of sockets) s.close();
    throw fromSystemError(err, "connect to", a.endpoint);
  });
  clearTimeout(timer);
  if (!ok) {
    for (const s of sockets) s.close();
    throw new ChannelError("ETIMEDOUT", `cannot connect to ${a.endpoint}: no receiver answered within ${timeoutMs} ms`, { syscall: "connect", resource: a.endpoint });
  }
  const sender = new ZeromqSender(
    push,
    ack,
    session,
    a.endpoint,
    a.maxMessageSize,
    options.highWaterMark ?? JS_HIGH_WATER,
    options.lingerMs ?? DEFAULT_LINGER_MS,
  );
  sender.hello();
  return sender;
}

/** ipc socket files with this prefix in `directory` (default os.tmpdir()). */
async function list(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  validatePrefix(prefix);
  return readdirSync(directory)
    .filter((n) => n.startsWith(prefix) && n.endsWith(IPC_SUFFIX))
    .map((n) => path.join(directory, n))
    .filter((p) => {
      try {
        return pathIsSocket(p);
      } catch {
        return false;
      }
    });
}

/** Removes ipc socket files whose owning process (from the name) is gone, dying or a zombie. */
async function removeStale(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  for (const p of await list(prefix, directory)) {
    const pid = ownerPidOf(path.basename(p), prefix);
    if (pid !== undefined && processGone(pid)) {
      try {
        unlinkSync(p);
        removed.push(p);
      } catch {
        // raced with someone else
      }
    }
  }
  return removed;
}

export const zeromqTransport: Transport<ZeromqListenOptions, ZeromqConnectOptions> = {
  descriptor: zeromqDescriptor,
  listen,
  connect,
  list,
  removeStale,
};
