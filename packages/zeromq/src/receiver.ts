import {
  ChannelError,
  CoreReceiver,
  FRAME_HEADER_BYTES,
  MAX_PACKET_PRODUCERS,
  ReceiverCore,
  fromSystemError,
  parseFrames,
  type Admission,
  type ParsedFrames,
} from "@ipc-sampler/core";
import type { Pull, Router } from "zeromq";
import type { ZeromqAddress } from "./index.js";
import {
  ACK_RETRY_MS,
  GRACE_MS,
  HEADER_BYTES,
  KIND_DATA,
  KIND_GOODBYE,
  KIND_HELLO,
  MAGIC,
  RECHECK_FIRST_MS,
  RECHECK_MAX_MS,
  SETTLE_MS,
  VERSION,
  PROBE,
  ackRoutingId,
} from "./wire.js";

interface ProducerState {
  readonly index: number;
  readonly pid: number;
  readonly session: number;
  /** Registered through the ROUTER (its DEALER's routing id is known there): it can be probed. */
  viaAck: boolean;
  /** A probe to its DEALER found no connection (EHOSTUNREACH): gone. */
  unreachable: boolean;
  probing: boolean;
  /** The peer slot it holds on the ipc socket's lock file (checked, 0 to MAX_PACKET_PRODUCERS - 1), or -1: judged by its heartbeats alone. */
  readonly slot: number;
  /** A later producer took its slot: its lock was dropped, so it is gone. */
  slotDropped: boolean;
  nextSeq: number;
  lastSeen: number;
  done: boolean;
  /** When its process was first seen gone (0: not yet). */
  goneAt: number;
}

export class ZeromqReceiver extends CoreReceiver {
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

  constructor(
    readonly address: ZeromqAddress,
    private readonly pull: Pull,
    private readonly router: Router,
    /** Over ipc://: whether a process holds peer slot `slot` of the data socket's lock file (undefined over tcp://). */
    private readonly slotHeld: ((slot: number) => boolean) | undefined,
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
      if (parts.length !== 1) continue;
      try {
        this.handle(parts[0]!);
      } catch (err) {
        // A message handle() did not foresee (a short or garbled one): never an unhandled rejection.
        if (this.core.closed) return;
        const error = err instanceof ChannelError ? err : new ChannelError("EPROTO", `a message on ${this.address.endpoint} could not be read: ${(err as Error).message}`, { resource: this.address.endpoint, cause: err });
        for (const p of this.active) this.lose(p, error);
        return;
      }
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
      const p = this.producerMap.get(msg.readUInt32LE(4) * 0x100000000 + msg.readUInt32LE(8));
      if (p) p.viaAck = true;
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
      let slot = -1;
      if (this.slotHeld) {
        try {
          const claimed = (JSON.parse(msg.toString("utf8", HEADER_BYTES)) as { slot?: unknown }).slot;
          // A claim: used only when it is a slot a producer can lock.
          if (typeof claimed === "number" && Number.isInteger(claimed) && claimed >= 0 && claimed < MAX_PACKET_PRODUCERS) slot = claimed;
        } catch {
          // a hello without a readable body: judged by its heartbeats
        }
      }
      p = { index: this.core.attach(), pid, session: msg.readUInt32LE(8), viaAck: false, unreachable: false, probing: false, slot, slotDropped: false, nextSeq: 1, lastSeen: Date.now(), done: false, goneAt: 0 };
      if (this.active.size >= MAX_PACKET_PRODUCERS) {
        // A bound on what HELLOs can make this process hold: the producer is counted and lost at once.
        return this.core.producerLost(p.index, new ChannelError("ELIMIT", `zeromq producer ${p.index} (pid ${pid}) on ${this.address.endpoint} was refused: ${MAX_PACKET_PRODUCERS} producers are attached already`, { producer: p.index, resource: this.address.endpoint }));
      }
      if (this.producerMap.size >= 4 * MAX_PACKET_PRODUCERS) {
        // Finished producers are remembered only to ignore their late batches; forget the oldest ones.
        for (const [k, old] of this.producerMap) {
          if (this.producerMap.size < 2 * MAX_PACKET_PRODUCERS) break;
          if (old.done) this.producerMap.delete(k);
        }
      }
      // Whoever held this slot before let go of its lock: it is gone.
      if (slot >= 0) for (const o of this.active) if (o.slot === slot) o.slotDropped = true;
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
      // A claim, checked before the allocation it sizes: every frame takes at least its 4-byte header.
      if (count > (msg.length - HEADER_BYTES) / FRAME_HEADER_BYTES) {
        return this.lose(p, new ChannelError("EPROTO", `${what} sent a batch that claims ${count} messages in ${msg.length - HEADER_BYTES} bytes`, { producer: p.index, resource: this.address.endpoint }));
      }
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
   * Who went away? Producers over ipc://: the ones whose slot lock is free
   * (the kernel drops it once the last thread of the process has exited,
   * in whatever pid namespace); over tcp://, the ones whose DEALER the
   * ROUTER can no longer reach (see PROBE). Others (a producer without a
   * DEALER, or a host that died with its connections open): when fewer
   * connections remain than producers, the ones not heard from (data or
   * heartbeat) for GRACE_MS.
   */
  private checkPeers(): void {
    if (this.core.closed) return;
    const now = Date.now();
    let unsettled = false;
    // Only as many producers can be lost as connections have closed: a gone
    // process whose connection is still open has bytes left to read.
    let closedConnections = this.active.size - this.connections;
    const gone = [...this.active].filter((p) => (p.slot >= 0 ? p.slotDropped || !this.slotHeld!(p.slot) : p.unreachable)).sort((a, b) => a.lastSeen - b.lastSeen);
    if (closedConnections > 0) for (const p of this.active) if (p.slot < 0 && p.viaAck && !p.unreachable) this.probe(p);
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
    // A dying process closes its sockets a moment before its last thread
    // exits and its lock is dropped: look again shortly, backing off,
    // before relying on silence.
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

  /** Asks the ROUTER whether `p`'s DEALER is still connected (see PROBE); marks it unreachable and looks again when it is not. */
  private probe(p: ProducerState): void {
    if (p.probing || this.core.closed) return;
    p.probing = true;
    this.router.send([ackRoutingId(p.pid, p.session), PROBE]).then(
      () => {
        p.probing = false;
      },
      (err: { code?: string }) => {
        p.probing = false;
        if (err?.code !== "EHOSTUNREACH" || p.done) return;
        p.unreachable = true;
        this.requestCheck();
      },
    );
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

