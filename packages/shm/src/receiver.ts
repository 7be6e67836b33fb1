import { ChannelError, FollowingReceiver, type FollowingReceiverOptions, type MessageBatch, type MutableBatch } from "@ipc-sampler/core";
import { FutexFollower, futexWake, ringDoorbell, truncatedError, type FollowedProducers, type MappedSegment } from "@ipc-sampler/posix";
import { ACTIVE, CLAIMED, CLOSED, FRAME_HEADER, FREE, H_CLOSED, H_DOORBELL, H_SLEEPING, S_HEAD, S_PID, S_SLEEPING, S_SPACE, S_STATE, S_TAIL, WRAP, slotWord } from "./layout.js";
import type { ShmAddress } from "./index.js";

const MAX_BATCH = 8192;

interface SlotState {
  attached: boolean;
  /** Broke the ring protocol: ignored until the receiver closes (its writer may still be writing). */
  poisoned: boolean;
  producer: number;
  pid: number;
  head: number;
  /** The ring as bytes: batch data is a view of it. */
  data: Uint8Array;
  ringWord: number;
}

export type ShmReceiverOptions = FollowingReceiverOptions;

/**
 * The consuming end: one SPSC ring per producer slot, read in place. A batch
 * is a view into a ring (zero copy); its space goes back to the producer
 * when the next batch is requested or on `release()`. When every ring is
 * empty it follows them with a FutexFollower on the header's sleeping flag
 * and doorbell word.
 */
export class ShmReceiver extends FollowingReceiver {
  private readonly words: Int32Array;
  private readonly slots: SlotState[] = [];
  private readonly batch: MutableBatch;
  private readonly maxBatchBytes: number;
  private held = -1; // slot whose batch is out
  private heldHead = 0;
  private cursor = 0;
  protected readonly follower: FutexFollower<MessageBatch>;

  constructor(
    readonly address: ShmAddress,
    private readonly segment: MappedSegment,
    private readonly options: ShmReceiverOptions,
  ) {
    super(true);
    const buf = segment.buffer;
    this.words = new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    for (let s = 0; s < address.slots; s++) {
      const off = address.ringsOffset + s * address.ringBytes;
      this.slots.push({ attached: false, poisoned: false, producer: -1, pid: 0, head: 0, data: new Uint8Array(buf.buffer, buf.byteOffset + off, address.ringBytes), ringWord: off >>> 2 });
    }
    this.batch = { count: 0, data: this.slots[0]!.data, offsets: new Int32Array(2 * MAX_BATCH), producer: 0 };
    this.maxBatchBytes = Math.max(address.ringBytes >>> 2, 64 * 1024);
    const followed: FollowedProducers<MessageBatch> = {
      tryBatch: () => this.tryBatch(),
      scan: (checkLiveness) => this.scanSlots(checkLiveness),
      pending: () => this.anyPublished(),
      watching: () => this.anyAttached(),
      // Every ring lives in the one segment: shrunk, the whole channel ends.
      truncated: () => (segment.truncated() ? truncatedError(address.path) : undefined),
    };
    this.follower = new FutexFollower(followed, { words: this.words, sleepingIndex: H_SLEEPING, doorbellIndex: H_DOORBELL, spinUs: options.spinUs, busyPollMs: options.busyPollMs, expectedProducers: options.expectedProducers, onPeerLost: options.onPeerLost });
  }

  protected describe(): string {
    return `shm receiver of ${this.address.path}`;
  }

  /** Gives the current batch's ring space back to its producer now. */
  override release(): void {
    const s = this.held;
    if (s < 0) return;
    this.held = -1;
    const slot = this.slots[s]!;
    slot.head = this.heldHead;
    Atomics.store(this.words, slotWord(s, S_HEAD), this.heldHead | 0);
    ringDoorbell(this.words, slotWord(s, S_SLEEPING), slotWord(s, S_SPACE));
  }

  /** Notices producers that attached, closed or died. */
  private scanSlots(checkLiveness: boolean): void {
    const words = this.words;
    for (let s = 0; s < this.slots.length; s++) {
      const slot = this.slots[s]!;
      const state = Atomics.load(words, slotWord(s, S_STATE));
      if (slot.poisoned) continue;
      if (!slot.attached) {
        if (state === ACTIVE || state === CLOSED) {
          slot.attached = true;
          slot.producer = this.follower.attach();
          slot.pid = Atomics.load(words, slotWord(s, S_PID));
          slot.head = Atomics.load(words, slotWord(s, S_HEAD)) >>> 0;
        } else if (state === CLAIMED && checkLiveness && !this.segment.slotHeld(s) && Atomics.load(words, slotWord(s, S_STATE)) === CLAIMED) {
          this.freeSlot(s); // died while attaching (a producer locks its slot before claiming it)
        }
        continue;
      }
      if (s === this.held) continue;
      const empty = (Atomics.load(words, slotWord(s, S_TAIL)) >>> 0) === slot.head;
      if (!empty) continue;
      if (state === CLOSED) {
        this.detach(s);
        this.follower.producerClosed();
      } else if (checkLiveness && !this.segment.slotHeld(s)) {
        // Its slot lock is free: it died, or closed just now (CLOSED is stored
        // before the lock is dropped). Read the tail again: a last publication
        // may have landed before the death.
        if ((Atomics.load(words, slotWord(s, S_TAIL)) >>> 0) !== slot.head) continue;
        if (Atomics.load(words, slotWord(s, S_STATE)) === CLOSED) continue; // the next scan sees it closed
        const producer = slot.producer;
        this.detach(s);
        this.follower.producerLost(new ChannelError("EPEERGONE", `shm producer ${producer} (pid ${slot.pid}) on ${this.address.path} died without closing; every message it had published was delivered`, { producer, resource: this.address.path }));
      }
    }
  }

  private detach(s: number): void {
    this.slots[s]!.attached = false;
    this.freeSlot(s);
  }

  private freeSlot(s: number): void {
    const w = this.words;
    Atomics.store(w, slotWord(s, S_HEAD), 0);
    Atomics.store(w, slotWord(s, S_TAIL), 0);
    Atomics.store(w, slotWord(s, S_SLEEPING), 0);
    Atomics.store(w, slotWord(s, S_PID), 0);
    Atomics.store(w, slotWord(s, S_STATE), FREE);
    this.slots[s]!.head = 0;
  }

  /**
   * A ring whose frames do not parse: its producer is dropped with EPROTO and
   * the slot ignored from now on. Anyone who can map the segment can write
   * any slot, so this ends only that slot; the other rings keep flowing.
   */
  private protocolError(s: number, why: string): void {
    const slot = this.slots[s]!;
    slot.attached = false;
    slot.poisoned = true;
    this.follower.producerLost(new ChannelError("EPROTO", `shm producer ${slot.producer} (pid ${slot.pid}) on ${this.address.path} broke the ring protocol: ${why}`, { producer: slot.producer, resource: this.address.path }));
  }

  /**
   * Takes published messages from the next non-empty ring into the batch,
   * without waiting. Every frame is a claim of the producer, checked before
   * it is used: the tail at most one ring ahead of the head, a length from 0
   * to maxMessageSize (or WRAP), and the whole frame inside both the bytes
   * published and the ring's end. Frames before a bad one are delivered first.
   */
  tryBatch(): MessageBatch | undefined {
    this.release();
    if (this.isClosed) return undefined;
    const words = this.words;
    const n = this.slots.length;
    for (let k = 0; k < n; k++) {
      const s = (this.cursor + k) % n;
      const slot = this.slots[s]!;
      if (!slot.attached) continue;
      const tail = Atomics.load(words, slotWord(s, S_TAIL)) >>> 0;
      let head = slot.head;
      if (tail === head) continue;
      const offsets = this.batch.offsets;
      const ringBytes = slot.data.length;
      const mask = ringBytes - 1;
      const ringWord = slot.ringWord;
      const maxLen = this.maxMessageSize;
      let count = 0;
      let bytes = 0;
      let bad: string | undefined;
      if (((tail - head) >>> 0) > ringBytes) bad = `its tail is ${(tail - head) >>> 0} bytes ahead of the head, more than the ${ringBytes}-byte ring`;
      while (bad === undefined && head !== tail && count < MAX_BATCH && bytes < this.maxBatchBytes) {
        const idx = head & mask;
        const left = (tail - head) >>> 0; // bytes published and not yet read
        const room = ringBytes - idx; // bytes to the end of the ring
        if ((idx & 7) !== 0) {
          bad = `a frame at ring offset ${idx}, not 8-byte aligned`;
          break;
        }
        const len = words[ringWord + (idx >>> 2)]!;
        if (len === WRAP) {
          if (room > left) bad = `a wrap marker at ring offset ${idx} past the ${left} bytes published`;
          else head = (head + room) >>> 0;
          continue;
        }
        const need = FRAME_HEADER + ((len + 7) & ~7);
        if (len < 0 || len > maxLen) bad = `a frame of length ${len} (at most ${maxLen})`;
        else if (need > room || need > left) bad = `a ${len}-byte frame at ring offset ${idx} that runs past the ${Math.min(room, left)} bytes there`;
        if (bad !== undefined) break;
        offsets[2 * count] = idx + FRAME_HEADER;
        offsets[2 * count + 1] = len;
        count++;
        bytes += need;
        head = (head + need) >>> 0;
      }
      if (bad !== undefined && count === 0) {
        this.protocolError(s, bad);
        continue;
      }
      this.cursor = s + 1;
      if (count === 0) {
        // Only a wrap marker was pending (a producer publishes it with the message after it).
        slot.head = head;
        Atomics.store(words, slotWord(s, S_HEAD), head | 0);
        continue;
      }
      this.batch.count = count;
      this.batch.data = slot.data;
      this.batch.producer = slot.producer;
      this.held = s;
      this.heldHead = head;
      return this.batch;
    }
    return undefined;
  }

  private anyPublished(): boolean {
    const words = this.words;
    for (let s = 0; s < this.slots.length; s++) {
      const slot = this.slots[s]!;
      if (slot.poisoned) continue;
      const state = Atomics.load(words, slotWord(s, S_STATE));
      if (!slot.attached) {
        if (state === ACTIVE || state === CLOSED) return true;
        continue;
      }
      if (state === CLOSED || (Atomics.load(words, slotWord(s, S_TAIL)) >>> 0) !== slot.head) return true;
    }
    return false;
  }

  private anyAttached(): boolean {
    for (let s = 0; s < this.slots.length; s++) {
      const slot = this.slots[s]!;
      if (slot.attached || (!slot.poisoned && Atomics.load(this.words, slotWord(s, S_STATE)) === CLAIMED)) return true;
    }
    return false;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    this.held = -1;
    const w = this.words;
    Atomics.store(w, H_CLOSED, 1);
    for (let s = 0; s < this.slots.length; s++) {
      Atomics.add(w, slotWord(s, S_SPACE), 1);
      futexWake(w, slotWord(s, S_SPACE));
    }
    this.follower.close();
    this.closing = Promise.resolve().then(() => {
      this.segment.close();
      this.options.cleanup();
    });
    return this.closing;
  }
}
