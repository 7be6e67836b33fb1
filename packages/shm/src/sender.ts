import { ChannelError, SenderBase, messageTooLarge, nothingReserved, reservationOpen, type ReservingSender } from "@ipc-sampler/core";
import { FutexWaiter, futexWake, publishSoon, ringDoorbell, spinUntil, truncatedError, type MappedSegment } from "@ipc-sampler/posix";
import { ACTIVE, CLOSED, FRAME_HEADER, H_CLOSED, H_DOORBELL, H_SLEEPING, S_HEAD, S_SLEEPING, S_SPACE, S_STATE, S_TAIL, WRAP, slotWord } from "./layout.js";

/** How often a producer waiting for space checks that the receiver still exists (ms). */
const LIVENESS_SLICE_MS = 200;

export interface ShmSenderOptions {
  /** Busy-wait up to this long for space before sleeping on the futex (µs, default 50). */
  spinUs?: number;
}

/**
 * The producing end of one ring. `write` copies the message into the ring
 * in place; publication (one Atomics.store of the tail, and a FUTEX_WAKE
 * only when the consumer announced it sleeps) happens once per batch: at the
 * end of the current tick, when an eighth of the ring is unpublished, or on
 * `flush()`.
 */
export class ShmSender extends SenderBase implements ReservingSender {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly ringWord: number;
  private readonly ringByte: number;
  private readonly mask: number;
  private readonly size: number;
  private readonly iTail: number;
  private readonly iHead: number;
  private readonly iSleeping: number;
  private readonly iSpace: number;
  private readonly publishEvery: number;
  private readonly lowWater: number;
  private readonly spinUs: number;
  private tail: number;
  private head: number;
  private published: number;
  private scheduled = false;
  private overflow: Uint8Array[] = [];
  private waiter: FutexWaiter | undefined;
  private draining: Promise<void> | undefined;
  private pumping = false;
  /** The frame a write() that returned false wants room for: drain() waits for it too. */
  private wantRoom = 0;
  /** Ring position of the reserved frame's header, -1 when nothing is reserved. */
  private reservedAt = -1;
  private reservedLength = 0;
  private readonly publish = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly segment: MappedSegment,
    readonly slot: number,
    ringOffset: number,
    ringBytes: number,
    maxMessageSize: number,
    resource: string,
    options: ShmSenderOptions = {},
  ) {
    super({ maxMessageSize, target: resource });
    const buf = segment.buffer;
    this.words = new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    this.bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    this.ringByte = ringOffset;
    this.ringWord = ringOffset >>> 2;
    this.size = ringBytes;
    this.mask = ringBytes - 1;
    this.iTail = slotWord(slot, S_TAIL);
    this.iHead = slotWord(slot, S_HEAD);
    this.iSleeping = slotWord(slot, S_SLEEPING);
    this.iSpace = slotWord(slot, S_SPACE);
    this.tail = Atomics.load(this.words, this.iTail) >>> 0;
    this.published = this.tail;
    this.head = Atomics.load(this.words, this.iHead) >>> 0;
    this.publishEvery = ringBytes >>> 3;
    this.lowWater = ringBytes >>> 2;
    this.spinUs = options.spinUs ?? 50;
  }

  private gone(): ChannelError {
    return new ChannelError("EPEERGONE", `cannot send to ${this.resource}: the receiver went away`, { resource: this.resource });
  }

  /** Receiver closed or dead, or the segment truncated under us (then `failure` says so). */
  private receiverGone(): boolean {
    if (this.segment.truncated()) {
      this.fail(truncatedError(this.resource));
      return true;
    }
    if (Atomics.load(this.words, H_CLOSED) !== 0) return true;
    return false;
  }

  /**
   * Makes room for a frame of `len` bytes at the tail (a WRAP marker first
   * when the frame would not be contiguous) and returns the ring position of
   * its header; -1 when it does not fit now. The tail is not advanced past
   * the frame: `advance` does that once the bytes are in place.
   */
  private claim(len: number): number {
    const need = FRAME_HEADER + ((len + 7) & ~7);
    let idx = this.tail & this.mask;
    const contig = this.size - idx;
    const pad = contig < need ? contig : 0;
    if (((this.tail - this.head) >>> 0) + pad + need > this.size) {
      this.head = Atomics.load(this.words, this.iHead) >>> 0;
      if (((this.tail - this.head) >>> 0) + pad + need > this.size) return -1;
    }
    if (pad !== 0) {
      this.words[this.ringWord + (idx >>> 2)] = WRAP;
      this.tail = (this.tail + pad) >>> 0;
      idx = 0;
    }
    return idx;
  }

  /** Whether a frame of `need` bytes (and the wrap padding before it) fits now, by the last head read. */
  private fits(need: number): boolean {
    const contig = this.size - (this.tail & this.mask);
    return ((this.tail - this.head) >>> 0) + (contig < need ? contig : 0) + need <= this.size;
  }

  /** Writes the frame header of a `len`-byte message at `idx` and moves the tail past it (published later). */
  private advance(idx: number, len: number): void {
    this.words[this.ringWord + (idx >>> 2)] = len;
    this.tail = (this.tail + FRAME_HEADER + ((len + 7) & ~7)) >>> 0;
  }

  /** Copies one message into the ring if it fits now; false when it does not. */
  private put(message: Uint8Array): boolean {
    const len = message.length;
    const idx = this.claim(len);
    if (idx < 0) return false;
    if (len > 0) this.bytes.set(message, this.ringByte + idx + FRAME_HEADER);
    this.advance(idx, len);
    return true;
  }

  /** Publishes at once past an eighth of the ring, else at the end of this tick. */
  private publishLater(): void {
    if (((this.tail - this.published) >>> 0) >= this.publishEvery) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      publishSoon(this.publish);
    }
  }

  write(message: Uint8Array): boolean {
    this.admit(message.length);
    if (this.reservedAt >= 0) throw reservationOpen(this.target, this.resource);
    if (this.overflow.length === 0 && this.put(message)) {
      this.publishLater();
      // No room for another message like this one: ask the caller to wait
      // now, so that a caller who does never has a write kept as a copy.
      const need = FRAME_HEADER + ((message.length + 7) & ~7);
      if (this.fits(need)) return true;
      this.head = Atomics.load(this.words, this.iHead) >>> 0;
      if (this.fits(need)) return true;
      this.wantRoom = need;
      return false;
    }
    // The ring is full: keep a copy. It is queued like any other write: the
    // pump moves it in as the receiver frees space, whether or not the caller
    // awaits drain(); false only asks the caller to slow down.
    this.overflow.push(message.slice());
    this.flush();
    this.pump();
    return false;
  }

  /**
   * The batch path: copies every message that fits and publishes once.
   * Returns how many were taken (the rest need `await drain()` first).
   */
  writeMany(messages: readonly Uint8Array[]): number {
    this.admit(0);
    if (this.reservedAt >= 0) throw reservationOpen(this.target, this.resource);
    let n = 0;
    if (this.overflow.length === 0) {
      for (; n < messages.length; n++) {
        const m = messages[n]!;
        if (m.length > this.maxMessageSize) {
          this.flush();
          throw messageTooLarge(m.length, this.maxMessageSize, this.resource);
        }
        if (!this.put(m)) break;
      }
    }
    this.flush();
    return n;
  }

  /**
   * Room for one `length`-byte message in the ring, as a view to fill in
   * place (no copy of the message is made), or undefined when the ring has
   * no room now or earlier writes still wait for it: `await drain()`, then
   * reserve again. The message is queued by `commit()`; until then the view
   * is this sender's alone and nothing else may be written. Throws EMSGSIZE
   * over maxMessageSize.
   */
  reserve(length: number): Uint8Array | undefined {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`reserve() takes a byte count (an integer from 0); got ${length}`);
    this.admit(length);
    if (this.reservedAt >= 0) throw reservationOpen(this.target, this.resource);
    const idx = this.overflow.length === 0 ? this.claim(length) : -1;
    if (idx < 0) {
      // Publish what is there, so the receiver frees the space drain() waits for.
      this.flush();
      return undefined;
    }
    this.reservedAt = idx;
    this.reservedLength = length;
    const at = this.ringByte + idx + FRAME_HEADER;
    return this.bytes.subarray(at, at + length);
  }

  /**
   * Queues the reserved message: its first `length` bytes (default: all that
   * was reserved), published like a write. Throws if nothing is reserved.
   */
  commit(length = this.reservedLength): void {
    if (this.reservedAt < 0) throw nothingReserved(this.target, this.resource);
    if (!Number.isInteger(length) || length < 0 || length > this.reservedLength) {
      throw new RangeError(`commit() takes at most the ${this.reservedLength} bytes reserved; got ${length}`);
    }
    const idx = this.reservedAt;
    this.reservedAt = -1;
    this.admit(0);
    this.advance(idx, length);
    this.publishLater();
  }

  /** Publishes what was written: one store of the tail, a wake only if the consumer sleeps. */
  flush(): void {
    if (this.tail === this.published || this.failure) return;
    if (this.receiverGone()) {
      this.fail(this.gone());
      return;
    }
    this.published = this.tail;
    Atomics.store(this.words, this.iTail, this.tail | 0);
    ringDoorbell(this.words, H_SLEEPING, H_DOORBELL);
  }

  protected override onFailure(): void {
    this.overflow = [];
    this.waiter?.cancel();
  }

  private free(): number {
    this.head = Atomics.load(this.words, this.iHead) >>> 0;
    return this.size - ((this.tail - this.head) >>> 0);
  }

  private moveOverflow(): void {
    let i = 0;
    while (i < this.overflow.length && this.put(this.overflow[i]!)) i++;
    if (i > 0) this.overflow.splice(0, i);
  }

  private ready(): boolean {
    this.moveOverflow();
    if (this.overflow.length !== 0 || this.free() < this.lowWater || (this.wantRoom !== 0 && !this.fits(this.wantRoom))) return false;
    this.wantRoom = 0;
    return true;
  }

  override drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.flush();
    if (this.ready()) {
      this.flush();
      return Promise.resolve();
    }
    return this.pump();
  }

  /**
   * Waits for space and moves the overflow in; one at a time. `pumping` is
   * cleared synchronously as the wait returns, so a write in the same tick
   * starts the next one. A failure is reported by the next call, so this
   * one's rejection is handled here.
   */
  private pump(): Promise<void> {
    if (!this.pumping || !this.draining) {
      this.pumping = true;
      this.draining = this.waitForSpace();
      this.draining.catch(() => {});
    }
    return this.draining;
  }

  private async waitForSpace(): Promise<void> {
    const words = this.words;
    // try/finally in this function: `pumping` clears in the same turn the loop returns.
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        this.flush();
        if (this.failure) throw this.failure;
        if (spinUntil(() => this.ready() || this.receiverGone(), this.spinUs)) {
          this.flush();
          if (this.receiverGone()) this.fail(this.gone());
          if (this.failure) throw this.failure;
          return;
        }
        Atomics.store(words, this.iSleeping, 1);
        const seq = Atomics.load(words, this.iSpace);
        if (this.ready() || this.receiverGone()) {
          Atomics.store(words, this.iSleeping, 0);
          continue;
        }
        // ready() may have moved overflow in: publish it, or the receiver would sleep too.
        this.flush();
        this.waiter ??= new FutexWaiter(words, this.iSpace);
        const r = await this.waiter.wait(seq, LIVENESS_SLICE_MS);
        Atomics.store(words, this.iSleeping, 0);
        // The segment first: a receiver whose mapping was truncated lets go of the owner lock too.
        if (r === "timed-out" && !this.receiverGone() && !this.segment.ownerAlive()) this.fail(this.gone());
        if (r === "cancelled" && !this.failure) this.fail(this.gone());
      }
    } finally {
      this.pumping = false;
    }
  }

  protected async finish(): Promise<void> {
    while (this.overflow.length > 0 && !this.failure) await this.drain();
    this.flush();
    if (this.failure) throw this.failure;
    Atomics.store(this.words, slotWord(this.slot, S_STATE), CLOSED);
    Atomics.add(this.words, H_DOORBELL, 1);
    futexWake(this.words, H_DOORBELL);
  }

  protected override release(): void {
    this.waiter?.close();
    this.segment.unlockSlot(this.slot); // after CLOSED: a receiver that finds the lock free sees CLOSED
    this.segment.close();
  }
}

export { ACTIVE };
