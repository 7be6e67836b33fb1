import { renameSync, statSync } from "node:fs";
import path from "node:path";
import { ChannelError, FollowingReceiver, type FollowingReceiverOptions, type MessageBatch, type MutableBatch } from "@ipc-sampler/core";
import { FutexFollower, futexWake, openSegment, removeSegment, truncatedError, type FollowedProducers, type MappedSegment } from "@ipc-sampler/posix";
import { ACTIVE, CLAIMED, CLOSED, C_CLOSED, C_DOORBELL, C_SLEEPING, FREE, KIND_BYE, KIND_DATA, KIND_NEXT, POOL_FILES, RECORD_HEADER, R_KIND, R_LENGTH, R_MARKER, R_SEQ_HI, R_SEQ_LO, SEGMENT_HEADER, SL_PID, SL_RETIRED, SL_STATE, SL_STREAM, commitFor, freeFile, segmentFile, slotWord } from "./layout.js";
import type { MmapAddress } from "./index.js";

const MAX_BATCH = 8192;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

interface StreamState {
  /** The producer slot this stream came through. */
  slot: number;
  attached: boolean;
  producer: number;
  pid: number;
  stream: number;
  index: number;
  seg: MappedSegment | undefined;
  words: Int32Array;
  bytes: Uint8Array;
  off: number;
  /** commitFor(index): the marker of a committed record in the current segment. */
  marker: number;
  /** With retention: recent mappings by inode, oldest first, so a recycled file is not mapped again. */
  maps: Map<number, MappedSegment>;
  bye: boolean;
  /** Broke the record format: ignored until the receiver closes. */
  poisoned: boolean;
  /** Sequence number of the next record: what `position()` reports. */
  nextSeq: number;
}

interface JournalBatch extends MutableBatch {
  /** The producer's stream id in the journal. */
  stream: number;
}

/** Where a consumer is in each stream: stream id → next sequence number. Save it; replay({ from }) resumes there. */
export type JournalPosition = Record<string, number>;

export interface JournalReceiverOptions extends FollowingReceiverOptions {
  retainSegments?: number | undefined;
}

/**
 * Follows every producer's stream as records are committed. Batches are
 * views into the mapped segment files: valid for as long as they are
 * referenced when every file is kept; with retainSegments, until the consumer
 * is retainSegments files further on (then the file is recycled and written
 * over), which is later than the next batch. When nothing is committed it
 * follows the streams with a FutexFollower on the control file's sleeping
 * flag and doorbell word.
 */
export class JournalReceiver extends FollowingReceiver {
  private readonly ctlWords: Int32Array;
  private readonly streams: StreamState[] = [];
  private readonly batch: JournalBatch;
  private cursor = 0;
  protected readonly follower: FutexFollower<MessageBatch>;

  constructor(
    readonly address: MmapAddress,
    private readonly ctl: MappedSegment,
    private readonly options: JournalReceiverOptions,
  ) {
    super(false);
    this.ctlWords = new Int32Array(ctl.buffer.buffer, ctl.buffer.byteOffset, ctl.buffer.length >>> 2);
    const empty = new Int32Array(0);
    for (let s = 0; s < address.slots; s++) {
      this.streams.push({ slot: this.streams.length, attached: false, producer: -1, pid: 0, stream: -1, index: 0, seg: undefined, words: empty, bytes: new Uint8Array(0), off: 0, marker: commitFor(0), maps: new Map(), bye: false, poisoned: false, nextSeq: 0 });
    }
    this.batch = { count: 0, data: new Uint8Array(0), offsets: new Int32Array(2 * MAX_BATCH), producer: 0, stream: 0 };
    const followed: FollowedProducers<MessageBatch> = {
      tryBatch: () => this.tryBatch(),
      scan: (checkLiveness) => this.scanSlots(checkLiveness),
      pending: () => this.anyCommitted(),
      watching: () => this.anyAttached(),
      truncated: () => this.truncated(),
    };
    this.follower = new FutexFollower(followed, { words: this.ctlWords, sleepingIndex: C_SLEEPING, doorbellIndex: C_DOORBELL, spinUs: options.spinUs, busyPollMs: options.busyPollMs, expectedProducers: options.expectedProducers, onPeerLost: options.onPeerLost });
  }

  protected describe(): string {
    return `journal receiver of ${this.address.directory}`;
  }

  /** Stream id → next sequence number, for every stream seen so far (what to pass to replay({ from })). */
  position(): JournalPosition {
    return { ...this.saved };
  }
  private readonly saved: JournalPosition = {};

  private mapSegment(st: StreamState, index: number): void {
    const directory = this.address.directory;
    const name = segmentFile(st.stream, index);
    const keep = this.options.retainSegments;
    let seg: MappedSegment | undefined;
    let ino = -1;
    if (keep !== undefined) {
      // A recycled file (renamed by its producer) may still be mapped here from its earlier index.
      ino = statSync(path.join(directory, name)).ino;
      seg = st.maps.get(ino);
      st.maps.delete(ino);
    }
    if (!seg) {
      seg = openSegment(name, undefined, { directory, populate: true });
      seg.close();
    }
    const prev = st.index;
    st.seg = seg;
    st.words = new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.buffer.length >>> 2);
    st.bytes = new Uint8Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.buffer.length);
    st.off = SEGMENT_HEADER;
    st.index = index;
    st.marker = commitFor(index);
    if (keep !== undefined) {
      st.maps.set(ino, seg);
      for (const k of st.maps.keys()) {
        if (st.maps.size <= keep + POOL_FILES + 2) break;
        st.maps.delete(k);
      }
      const drop = prev + 1 - keep;
      if (index > 0 && drop >= 0) this.retire(st, drop);
    }
  }

  /** Hands segment `index` (the consumer is past it) back to its producer for reuse; keeps at most POOL_FILES waiting. */
  private retire(st: StreamState, index: number): void {
    const directory = this.address.directory;
    const stream = st.stream;
    try {
      renameSync(path.join(directory, segmentFile(stream, index)), path.join(directory, freeFile(stream, index)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    if (index >= POOL_FILES) removeSegment(freeFile(stream, index - POOL_FILES), { directory });
    // A producer that ran too far ahead waits for this (JournalSender.drain).
    const w = slotWord(st.slot, SL_RETIRED);
    Atomics.store(this.ctlWords, w, index + 1);
    futexWake(this.ctlWords, w);
  }

  /** Removes the retired files a stream's producer will not claim any more (it closed or died). */
  private dropPool(st: StreamState): void {
    st.maps.clear();
    const keep = this.options.retainSegments;
    if (keep === undefined || st.stream < 0) return;
    for (let j = Math.max(0, st.index - keep - POOL_FILES); j < st.index; j++) {
      try {
        removeSegment(freeFile(st.stream, j), { directory: this.address.directory });
      } catch {
        // best effort
      }
    }
  }

  private scanSlots(check: boolean): void {
    const c = this.ctlWords;
    for (let s = 0; s < this.streams.length; s++) {
      const st = this.streams[s]!;
      if (st.poisoned) continue;
      const state = Atomics.load(c, slotWord(s, SL_STATE));
      if (!st.attached) {
        if (state === ACTIVE || state === CLOSED) {
          st.attached = true;
          st.bye = false;
          st.producer = this.follower.attach();
          st.pid = Atomics.load(c, slotWord(s, SL_PID));
          st.stream = Atomics.load(c, slotWord(s, SL_STREAM));
          st.index = 0;
          st.nextSeq = 0;
          try {
            this.mapSegment(st, 0);
          } catch (err) {
            this.protocolError(s, `its first segment cannot be mapped (${(err as Error).message})`);
          }
        } else if (state === CLAIMED && check && !this.ctl.slotHeld(s) && Atomics.load(c, slotWord(s, SL_STATE)) === CLAIMED) {
          this.freeSlot(s); // died while attaching (a producer locks its slot before claiming it)
        }
        continue;
      }
      if (st.bye) {
        // A producer commits its BYE record, then marks its slot CLOSED. Free
        // the slot only after that store (or once it died): freed earlier,
        // the late CLOSED would bring the finished stream back as a new one.
        if (state === CLOSED || (check && !this.ctl.slotHeld(s))) {
          this.detach(s);
          this.follower.producerClosed();
        }
      } else if (check && Atomics.load(st.words, st.off >>> 2) !== st.marker && !this.ctl.slotHeld(s)) {
        // Its slot lock is free: it died (the kernel dropped the lock as its
        // descriptors closed, before it became a zombie), or it closed, which
        // commits a BYE first. Read once more: the last commit may have
        // landed just before the death.
        if (Atomics.load(st.words, st.off >>> 2) === st.marker) continue;
        const producer = st.producer;
        this.detach(s);
        this.follower.producerLost(new ChannelError("EPEERGONE", `journal producer ${producer} (pid ${st.pid}, stream ${st.stream}) in ${this.address.directory} died without closing; every record it committed was delivered`, { producer, resource: this.address.directory }));
      }
    }
  }

  private detach(s: number): void {
    const st = this.streams[s]!;
    st.attached = false;
    st.seg = undefined;
    this.dropPool(st);
    this.freeSlot(s);
  }

  private freeSlot(s: number): void {
    const c = this.ctlWords;
    Atomics.store(c, slotWord(s, SL_PID), 0);
    Atomics.store(c, slotWord(s, SL_STATE), FREE);
  }

  /**
   * A stream whose records do not parse: its producer is dropped with EPROTO
   * and the slot ignored from now on (anyone who can write the directory can
   * write any stream, so only the channel's other streams are kept going).
   */
  private protocolError(s: number, why: string): void {
    const st = this.streams[s]!;
    st.attached = false;
    st.poisoned = true;
    st.seg = undefined;
    this.follower.producerLost(new ChannelError("EPROTO", `journal producer ${st.producer} (pid ${st.pid}, stream ${st.stream}) in ${this.address.directory} broke the record format: ${why}`, { producer: st.producer, resource: this.address.directory }));
  }

  /**
   * Committed records from the next stream that has some, without waiting.
   * Each record is checked as Journal.replay checks it (kind, length from 0
   * to maxMessageSize, inside its segment) before it is handed out.
   */
  tryBatch(): (MessageBatch & { readonly stream: number }) | undefined {
    if (this.isClosed) return undefined;
    const n = this.streams.length;
    for (let k = 0; k < n; k++) {
      const s = (this.cursor + k) % n;
      const st = this.streams[s]!;
      if (!st.attached || st.bye) continue;
      const offsets = this.batch.offsets;
      let count = 0;
      let bytes = 0;
      let bad: string | undefined;
      for (;;) {
        const words = st.words;
        const size = st.bytes.length;
        // Every record leaves room for the header of the next (a NEXT record at worst).
        if (st.off + RECORD_HEADER > size) {
          bad = `a record at offset ${st.off}, past the end of its ${size}-byte segment`;
          break;
        }
        const w = st.off >>> 2;
        if (Atomics.load(words, w + R_MARKER) !== st.marker) break;
        const kind = words[w + R_KIND]! & 0xff;
        if (kind === KIND_DATA) {
          const len = words[w + R_LENGTH]!;
          const need = RECORD_HEADER + ((len + 7) & ~7);
          if (len < 0 || len > this.maxMessageSize || st.off + need + RECORD_HEADER > size) {
            bad = `a record of length ${len} at offset ${st.off} of segment ${st.index} (at most ${Math.min(this.maxMessageSize, size - st.off - 2 * RECORD_HEADER)} fit)`;
            break;
          }
          offsets[2 * count] = st.off + RECORD_HEADER;
          offsets[2 * count + 1] = len;
          count++;
          st.nextSeq = (words[w + R_SEQ_LO]! >>> 0) + (words[w + R_SEQ_HI]! >>> 0) * 0x100000000 + 1;
          st.off += need;
          bytes += need;
          if (count >= MAX_BATCH || bytes >= MAX_BATCH_BYTES) break;
        } else if (kind === KIND_NEXT) {
          if (count > 0) break; // this batch's views point into the current file
          try {
            this.mapSegment(st, st.index + 1);
          } catch (err) {
            bad = `its next segment ${st.index + 1} cannot be mapped (${(err as Error).message})`;
            break;
          }
        } else if (kind === KIND_BYE) {
          st.off += RECORD_HEADER;
          st.bye = true;
          break;
        } else {
          bad = `a record of unknown kind ${kind} at offset ${st.off} of segment ${st.index}`;
          break;
        }
      }
      // Records before a bad one are delivered first; the next call reports it.
      if (bad !== undefined && count === 0) {
        this.protocolError(s, bad);
        continue;
      }
      if (count === 0) continue;
      this.saved[st.stream] = st.nextSeq;
      this.cursor = s + 1;
      this.batch.count = count;
      this.batch.data = st.bytes;
      this.batch.producer = st.producer;
      this.batch.stream = st.stream;
      return this.batch;
    }
    return undefined;
  }

  /**
   * A truncated stream file ends that producer with EPROTO (each stream has
   * its own files); a truncated control file ends the channel.
   */
  private truncated(): ChannelError | undefined {
    for (let s = 0; s < this.streams.length; s++) {
      const st = this.streams[s]!;
      if (st.attached && st.seg?.truncated()) this.protocolError(s, `its segment ${st.index} was truncated by a peer`);
    }
    return this.ctl.truncated() ? truncatedError(this.ctl.path) : undefined;
  }

  private anyCommitted(): boolean {
    const c = this.ctlWords;
    for (let s = 0; s < this.streams.length; s++) {
      const st = this.streams[s]!;
      if (st.poisoned) continue;
      if (!st.attached) {
        const state = Atomics.load(c, slotWord(s, SL_STATE));
        if (state === ACTIVE || state === CLOSED) return true;
        continue;
      }
      if (st.bye ? Atomics.load(c, slotWord(s, SL_STATE)) === CLOSED : Atomics.load(st.words, st.off >>> 2) === st.marker) return true;
    }
    return false;
  }

  private anyAttached(): boolean {
    for (let s = 0; s < this.streams.length; s++) {
      const st = this.streams[s]!;
      if (st.attached || (!st.poisoned && Atomics.load(this.ctlWords, slotWord(s, SL_STATE)) === CLAIMED)) return true;
    }
    return false;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    const c = this.ctlWords;
    Atomics.store(c, C_CLOSED, 1);
    Atomics.add(c, C_DOORBELL, 1);
    futexWake(c, C_DOORBELL);
    this.follower.close();
    for (const st of this.streams) if (st.attached) this.dropPool(st);
    this.closing = Promise.resolve().then(() => {
      this.ctl.close();
      this.options.cleanup();
    });
    return this.closing;
  }
}
