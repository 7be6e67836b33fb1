import { closeSync, constants, existsSync, fdatasyncSync, fsyncSync, openSync, readdirSync, renameSync, statSync, statfsSync } from "node:fs";
import path from "node:path";
import { ChannelError, SenderBase, fromSystemError, nothingReserved, reservationOpen, type ReservingSender } from "@ipc-sampler/core";
import { FutexWaiter, createSegment, futexWake, openSegment, publishSoon, ringDoorbell, truncatedError, type MappedSegment } from "@ipc-sampler/posix";
import { CLOSED, C_CLOSED, C_DOORBELL, C_SLEEPING, G_BYTES, G_INDEX, G_MAGIC, G_REUSED, G_SEQ_HI, G_SEQ_LO, G_STREAM, KIND_BYE, KIND_DATA, KIND_NEXT, RECORD_HEADER, R_CHECKSUM, R_KIND, R_LENGTH, R_MARKER, R_SEQ_HI, R_SEQ_LO, SEGMENT_HEADER, SEG_MAGIC, SL_RETIRED, SL_STATE, SUM_MIX32, SUM_NONE, commitFor, freeFile, segmentFile, slotWord, sumOf } from "./layout.js";

const OWNER_CHECK_MS = 200;
/**
 * With retention, write() asks the producer to wait (false, then drain())
 * once it is this many segments past the last one its consumer retired.
 * Running further ahead creates segment files instead of recycling them:
 * fresh pages, and a working set the copy into the journal pays for.
 */
const AHEAD_BEYOND_RETAINED = 1;
/** statfs(2) f_type of file systems whose pages MAP_POPULATE maps writable (tmpfs, ramfs). */
const POPULATE_FS = new Set([0x01021994, 0x858458f6]);

/** Earlier unsynced segment files remembered by name; past this, sync() flushes every file of the stream. */
const UNSYNCED_LIST = 64;

export interface JournalSenderOptions {
  segmentBytes: number;
  maxMessageSize: number;
  /** msync(MS_SYNC) after every N records (0: only on sync() and at segment ends when > 0). */
  syncEvery: number;
  checksum: boolean;
  /** The receiver's retainSegments: retired files come back to be recycled (undefined: every file is kept). */
  retainSegments?: number | undefined;
}

/** A segment this producer has left, kept mapped so that it can be written again once the consumer retires it. */
interface HeldSegment {
  index: number;
  ino: number;
  seg: MappedSegment | undefined;
}

/**
 * Appends records to this producer's own stream of segment files. Each
 * record is complete before its commit marker is stored (Atomics.store, so
 * in order for any reader); the consumer is woken at most once per tick and
 * only when it announced that it sleeps.
 */
export class JournalSender extends SenderBase implements ReservingSender {
  private seg!: MappedSegment;
  private words!: Int32Array;
  private bytes!: Uint8Array;
  private off = SEGMENT_HEADER;
  private syncedTo = SEGMENT_HEADER;
  private index = -1;
  private ino = 0;
  private marker = commitFor(0);
  /** Segments left behind, oldest first: the candidates for recycling. */
  private readonly held: HeldSegment[] = [];
  private readonly maxMapped: number;
  /**
   * MAP_POPULATE pays off on tmpfs; on a disk file system it maps pages
   * read-only (for dirty tracking), so each first store faults anyway, one
   * page at a time: there, letting the stores fault is several times faster.
   */
  private readonly populate: boolean;
  private seq = 0;
  /** Segments past the last retired one at which write() returns false (retention only; Infinity without). */
  private readonly aheadLimit: number;
  /** This slot's SL_RETIRED word in the control file. */
  private readonly retiredWord: number;
  /** write() returns false: the producer is aheadLimit segments ahead, until its consumer retires one more. */
  private ahead = false;
  private retiredWaiter: FutexWaiter | undefined;
  /** Length of the record reserve() handed out and commit() has not appended yet; -1 when none. */
  private reserved = -1;
  private unsynced = 0;
  /** Earlier segment files holding records appended since the last sync() (at most UNSYNCED_LIST names). */
  private readonly unsyncedFiles: string[] = [];
  /** More than UNSYNCED_LIST files went unsynced: the next sync() flushes every segment file of this stream. */
  private unsyncedOverflow = false;
  /** A segment file was created or renamed in the directory since the last sync(). */
  private namesUnsynced = false;
  private parentSynced = false;
  private scheduled = false;
  private dirty = false;
  private lastOwnerCheck = performance.now();
  private readonly ctlWords: Int32Array;
  private readonly publish = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly ctl: MappedSegment,
    private readonly directory: string,
    readonly slot: number,
    readonly stream: number,
    private readonly options: JournalSenderOptions,
  ) {
    super({ maxMessageSize: options.maxMessageSize, target: `journal ${directory}`, resource: directory, verb: "append" });
    this.ctlWords = new Int32Array(ctl.buffer.buffer, ctl.buffer.byteOffset, ctl.buffer.length >>> 2);
    this.maxMapped = Math.min((options.retainSegments ?? 0) + 2, 16);
    this.aheadLimit = options.retainSegments === undefined ? Infinity : options.retainSegments + AHEAD_BEYOND_RETAINED;
    this.retiredWord = slotWord(slot, SL_RETIRED);
    Atomics.store(this.ctlWords, this.retiredWord, 0); // a slot used before holds an earlier stream's count
    this.populate = POPULATE_FS.has(Number(statfsSync(directory).type));
    this.openNext();
  }

  /** Records written so far (the next record's sequence number). */
  get sequence(): number {
    return this.seq;
  }

  private openNext(): void {
    const next = this.index + 1;
    const opts = { directory: this.directory, populate: this.populate };
    let seg: MappedSegment | undefined;
    let ino = 0;
    let reused = 0;
    const old = this.recycle(next);
    if (old) {
      // Renamed from s<stream>-<old>.free: the same inode, written again.
      ino = statSync(path.join(this.directory, segmentFile(this.stream, next))).ino;
      seg = old.seg && old.ino === ino ? old.seg : undefined;
      if (!seg) {
        seg = openSegment(segmentFile(this.stream, next), this.options.segmentBytes, opts);
        seg.close();
      }
    } else {
      seg = createSegment(segmentFile(this.stream, next), this.options.segmentBytes, { ...opts, preallocate: true });
      ino = statSync(seg.path).ino;
      seg.close(); // the mapping stays
    }
    this.namesUnsynced = true;
    const words = new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.buffer.length >>> 2);
    if (old) reused = (words[G_REUSED]! + 1) | 0;
    // Old records in a recycled file carry another index's marker; the header says which index it is now.
    Atomics.store(words, G_MAGIC, 0);
    words[G_STREAM] = this.stream;
    words[G_INDEX] = next;
    words[G_BYTES] = this.options.segmentBytes;
    words[G_SEQ_LO] = this.seq | 0;
    words[G_SEQ_HI] = (this.seq / 0x100000000) | 0;
    words[G_REUSED] = reused;
    Atomics.store(words, G_MAGIC, SEG_MAGIC);
    if (this.index >= 0) {
      // Close the old segment with a NEXT record, once the new file exists.
      this.seal(KIND_NEXT, 0, SUM_NONE, 0);
      if (this.options.syncEvery > 0) this.sync();
      else if (this.off > this.syncedTo && !this.unsyncedOverflow) {
        // A producer that never syncs must not collect names forever.
        if (this.unsyncedFiles.push(segmentFile(this.stream, this.index)) > UNSYNCED_LIST) {
          this.unsyncedFiles.length = 0;
          this.unsyncedOverflow = true;
        }
      }
      // A producer writing in a loop yields no tick: wake a sleeping consumer now, so it follows (and retires files) at least once per segment.
      this.dirty = true;
      this.flush();
      if (this.options.retainSegments !== undefined) {
        const mapped = this.held.reduce((n, h) => n + (h.seg ? 1 : 0), 0);
        this.held.push({ index: this.index, ino: this.ino, seg: mapped < this.maxMapped ? this.seg : undefined });
      }
    }
    this.seg = seg;
    this.ino = ino;
    this.words = words;
    this.bytes = new Uint8Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.buffer.length);
    this.off = SEGMENT_HEADER;
    this.syncedTo = SEGMENT_HEADER;
    this.index = next;
    this.marker = commitFor(next);
    this.ahead = this.tooFarAhead();
  }

  /** This producer is aheadLimit segments or more past the last one its consumer retired (`retired`: the count it published). */
  private tooFarAhead(retired = Atomics.load(this.ctlWords, this.retiredWord)): boolean {
    return this.index - retired >= this.aheadLimit;
  }

  /**
   * Claims the oldest segment the consumer retired, renaming it to segment
   * `next`; undefined when it has not retired one yet (or keeps every file).
   */
  private recycle(next: number): HeldSegment | undefined {
    const target = path.join(this.directory, segmentFile(this.stream, next));
    while (this.held.length > 0) {
      const old = this.held[0]!;
      try {
        renameSync(path.join(this.directory, freeFile(this.stream, old.index)), target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") return undefined;
        // Not retired yet, or retired and then removed (the pool was full): try the next one.
        if (existsSync(path.join(this.directory, segmentFile(this.stream, old.index)))) return undefined;
        this.held.shift();
        continue;
      }
      this.held.shift();
      return old;
    }
    return undefined;
  }

  /** Fills a record header at `off` (the payload is already in place) and commits it. */
  private seal(kind: number, length: number, algo: number, sum: number): void {
    const w = this.off >>> 2;
    const words = this.words;
    words[w + R_LENGTH] = length;
    words[w + R_SEQ_LO] = this.seq | 0;
    words[w + R_SEQ_HI] = (this.seq / 0x100000000) | 0;
    words[w + R_CHECKSUM] = sum;
    words[w + R_KIND] = kind | algo;
    Atomics.store(words, w + R_MARKER, this.marker);
    this.off += RECORD_HEADER + ((length + 7) & ~7);
  }

  write(message: Uint8Array): boolean {
    const len = message.length;
    this.admit(len);
    if (this.reserved >= 0) throw reservationOpen(this.target, this.resource);
    this.makeRoom(len);
    if (len > 0) this.bytes.set(message, this.off + RECORD_HEADER);
    this.append(len);
    if (this.ahead) this.ahead = this.tooFarAhead();
    return !this.ahead;
  }

  /** The current segment has room for a `len`-byte record at `off` (a new one if needed). */
  private makeRoom(len: number): void {
    const need = RECORD_HEADER + ((len + 7) & ~7);
    if (this.off + need + RECORD_HEADER > this.options.segmentBytes) this.openNext();
  }

  /** Commits the `len`-byte record whose payload is in place at `off`, and schedules the wake-up. */
  private append(len: number): void {
    let algo = SUM_NONE;
    let sum = 0;
    if (this.options.checksum) {
      algo = SUM_MIX32;
      sum = sumOf(this.bytes, this.off + RECORD_HEADER, len, algo);
    }
    this.seal(KIND_DATA, len, algo, sum);
    this.seq++;
    if (this.options.syncEvery > 0 && ++this.unsynced >= this.options.syncEvery) this.sync();
    this.dirty = true;
    if (!this.scheduled) {
      this.scheduled = true;
      publishSoon(this.publish);
    }
  }

  /**
   * Room for one `length`-byte record in the current segment, as a view to
   * fill in place (no copy of the message is made). The journal is the
   * buffer, so there is always room (undefined is never returned; a full
   * segment moves to the next file first). The record is appended by
   * `commit()`; until then nothing else may be written. Throws EMSGSIZE
   * over maxMessageSize.
   */
  reserve(length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`reserve() takes a byte count (an integer from 0); got ${length}`);
    this.admit(length);
    if (this.reserved >= 0) throw reservationOpen(this.target, this.resource);
    this.makeRoom(length);
    this.reserved = length;
    const at = this.off + RECORD_HEADER;
    return this.bytes.subarray(at, at + length);
  }

  /** Appends the reserved record: its first `length` bytes (default: all that was reserved). */
  commit(length = this.reserved): void {
    if (this.reserved < 0) throw nothingReserved(this.target, this.resource);
    if (!Number.isInteger(length) || length < 0 || length > this.reserved) {
      throw new RangeError(`commit() takes at most the ${this.reserved} bytes reserved; got ${length}`);
    }
    this.reserved = -1;
    this.admit(0);
    this.append(length);
  }

  /**
   * Power-loss durability up to here: msync(MS_SYNC) of what this segment
   * gained since the last sync (Linux flushes the range as fdatasync would:
   * data, and the size needed to read it), fdatasync(2) of earlier segment
   * files that gained records meanwhile, and fsync(2) of the directory when
   * a segment file was created or renamed since, so their names survive too
   * (fsync(2): a file's fsync does not cover its directory entry).
   */
  sync(): void {
    try {
      this.syncNow();
    } catch (err) {
      throw fromSystemError(err, "sync journal", this.directory);
    }
  }

  private syncNow(): void {
    const current = segmentFile(this.stream, this.index);
    const earlier = this.unsyncedOverflow
      ? readdirSync(this.directory).filter((n) => n !== current && n.startsWith(`s${this.stream}-`) && n.endsWith(".jnl"))
      : this.unsyncedFiles.splice(0);
    this.unsyncedOverflow = false;
    for (const name of earlier) {
      let fd: number;
      try {
        fd = openSync(path.join(this.directory, name), constants.O_RDONLY);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // retired: its records were consumed
        throw err;
      }
      try {
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    const from = this.syncedTo & ~4095;
    if (this.off > this.syncedTo) this.seg.sync(from, this.off - from, true);
    this.syncedTo = this.off;
    this.unsynced = 0;
    if (this.namesUnsynced) {
      fsyncDirectory(this.directory);
      this.namesUnsynced = false;
    }
    if (!this.parentSynced) {
      // The journal directory's own name, once: a journal made just before a power loss survives too.
      fsyncDirectory(path.dirname(this.directory));
      this.parentSynced = true;
    }
  }

  /** Wakes the consumer if it sleeps; notices a receiver that closed or died, or a file a peer truncated. */
  flush(): void {
    if (this.failure) return;
    if (this.seg.truncated() || this.ctl.truncated()) return this.fail(truncatedError(this.seg.truncated() ? this.seg.path : this.ctl.path));
    const c = this.ctlWords;
    if (Atomics.load(c, C_CLOSED) !== 0) return this.receiverGone();
    const now = performance.now();
    if (now - this.lastOwnerCheck > OWNER_CHECK_MS) {
      this.lastOwnerCheck = now;
      if (!this.ctl.ownerAlive()) return this.receiverGone();
    }
    if (this.dirty) {
      this.dirty = false;
      ringDoorbell(c, C_SLEEPING, C_DOORBELL);
    }
  }

  private receiverGone(): void {
    this.fail(new ChannelError("EPEERGONE", `cannot append to journal ${this.directory}: the receiver went away`, { resource: this.directory }));
  }

  /**
   * Resolves when this producer may write on: at once when every file is
   * kept (the journal is the buffer), else once its consumer has retired
   * segments enough. Rejects when the channel failed (the receiver went away).
   */
  override drain(): Promise<void> {
    this.flush();
    if (this.failure) return Promise.reject(this.failure);
    return this.ahead ? this.waitForRetired() : Promise.resolve();
  }

  private async waitForRetired(): Promise<void> {
    const words = this.ctlWords;
    this.retiredWaiter ??= new FutexWaiter(words, this.retiredWord);
    for (;;) {
      const seen = Atomics.load(words, this.retiredWord);
      this.ahead = this.tooFarAhead(seen);
      if (!this.ahead) return;
      // The consumer wakes this word when it retires a segment; the timeout notices a receiver that died meanwhile.
      await this.retiredWaiter.wait(seen, OWNER_CHECK_MS);
      if (this.failure) throw this.failure;
      if (this.closeStarted) return; // nothing more will be written
      this.flush();
      if (this.failure) throw this.failure;
    }
  }

  override send(message: Uint8Array): Promise<void> {
    try {
      return this.write(message) ? (this.failure ? Promise.reject(this.failure) : this.settled()) : this.drain();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  protected async finish(): Promise<void> {
    this.flush();
    if (this.failure) throw this.failure;
    if (this.off + RECORD_HEADER * 2 > this.options.segmentBytes) this.openNext();
    this.seal(KIND_BYE, 0, SUM_NONE, 0);
    if (this.options.syncEvery > 0) this.sync();
    const c = this.ctlWords;
    Atomics.store(c, slotWord(this.slot, SL_STATE), CLOSED);
    Atomics.add(c, C_DOORBELL, 1);
    futexWake(c, C_DOORBELL);
  }

  protected override onFailure(): void {
    this.retiredWaiter?.cancel();
  }

  protected override release(): void {
    this.retiredWaiter?.close();
    this.held.length = 0;
    this.ctl.unlockSlot(this.slot); // after BYE and CLOSED: a receiver that finds the lock free sees them
    this.ctl.close();
  }
}

/** fsync(2) of a directory: the names created or renamed in it reach the disk. */
function fsyncDirectory(directory: string): void {
  const fd = openSync(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
