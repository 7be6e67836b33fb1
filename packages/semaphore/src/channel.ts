/**
 * The classic bounded buffer over POSIX named semaphores: K slots in a
 * shared segment, an `empty` semaphore (free slots), a `full` semaphore
 * (filled slots) and a `mutex` semaphore around the producers' insert.
 *
 * Segment layout (little-endian 32-bit words):
 *
 *   header, 4096 bytes
 *     0 magic   1 version   2 slots (K, a power of two)   3 slot size
 *     4 receiver pid   5 state (0 open, 1 closed)
 *     6 in:  slots committed so far (wraps at 2^32)
 *     7 out: slots the receiver has consumed
 *     8 mutex owner: pid of the producer holding `mutex`, 0 if none
 *     9 producer table capacity   10 maxMessageSize
 *    64 producer table: 4 words per producer
 *         [pid (0 = free), state, holds-empty flag, reserved]
 *   K slots of `slotSize` bytes
 *     [table index, used bytes, flags (1 = goodbye), pid] then frames:
 *     a u32 length and the bytes, as core framing.
 *
 * A producer coalesces its messages into a local chunk of one slot's size;
 * one slot carries one chunk. Committing a slot takes one `empty` unit and
 * the mutex, copies the chunk, advances `in`, posts `full`, releases the
 * mutex: per slot, not per message. Uncontended, every semaphore operation
 * is a user-space atomic; a wait that must block runs on the handle's waiter
 * thread with a bounded timeout, after which the waiter checks the other
 * side is still alive.
 *
 * Crash recovery. The addon records holders in the header as part of the
 * semaphore call itself (a "mark"): the producer's holds-empty flag right
 * after it takes an `empty` unit, the mutex owner's pid right after it takes
 * the mutex (cleared right before it posts it). When a wait times out the
 * receiver probes every registered producer with kill(pid, 0); for a dead
 * one it first drains every slot that producer committed (committed slots
 * are whole, so nothing torn is ever delivered), then returns the `empty`
 * unit it held, releases the mutex if that pid owned it, frees its table
 * entry and reports the producer lost (EPEERGONE). Producers check the
 * receiver's pid and the header state whenever their own wait times out.
 * `full` is only a wake-up: the receiver reads up to `in`, so a post lost or
 * doubled by a crash costs at most one spurious wake-up.
 */
import {
  ChannelError,
  CoreReceiver,
  DEFAULT_PREFIX,
  FRAME_HEADER_BYTES,
  ReceiverCore,
  isProcessAlive,
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
import {
  createSegment,
  listSegments,
  listSemaphores,
  openSegment,
  removeSegment,
  removeStaleSegments,
  removeStaleSemaphores,
  semOpen,
  semUnlink,
  type MappedSegment,
  type PosixSemaphore,
  type SemMark,
} from "@ipc-sampler/posix";

const MAGIC = 0x49505342; // "IPSB"
const VERSION = 1;
const HEADER_BYTES = 4096;
const H_MAGIC = 0;
const H_VERSION = 1;
const H_SLOTS = 2;
const H_SLOT_SIZE = 3;
const H_RECEIVER = 4;
const H_STATE = 5;
const H_IN = 6;
const H_OUT = 7;
const H_MUTEX_OWNER = 8;
const H_TABLE_CAP = 9;
const H_MAX_MESSAGE = 10;
const TABLE_WORD = 64;
const MAX_PRODUCERS = 64;
const E_PID = 0;
const E_STATE = 1;
const E_HOLDS_EMPTY = 2;
const SLOT_HEADER_BYTES = 16;
const FLAG_GOODBYE = 1;
const STATE_CLOSED = 1;

/** Bounded waits: how often each side looks at whether the other is alive. */
const CHECK_MS = 250;

/** Default slot: 64 KiB, so ~960 64-byte messages per semaphore round. */
export const SEMAPHORE_SLOT_SIZE = 64 * 1024;
/** Default largest message: one slot minus its header and one frame header. */
export const SEMAPHORE_MAX_MESSAGE = SEMAPHORE_SLOT_SIZE - SLOT_HEADER_BYTES - FRAME_HEADER_BYTES;
/** Largest slot accepted (so the largest message is just under 64 MiB). */
const MAX_SLOT_SIZE = 64 * 1024 * 1024;

export const semaphoreDescriptor: MechanismDescriptor = {
  id: "semaphore",
  mechanism: "semaphore-guarded bounded buffer",
  kernelInterface: "sem_open(3) + mmap(2) of /dev/shm",
  persistence: "kernel",
  naming: "kernel name",
  direction: "one-way",
  messageBoundaries: false,
  copiesPerMessage: 3,
  maxMessageSize: SEMAPHORE_MAX_MESSAGE,
  relatedProcessesOnly: false,
  crossesMachines: false,
  summary: "K slots in shared memory with an empty, a full and a mutex named semaphore: the textbook producer/consumer buffer.",
};

export interface SemaphoreAddress extends Address {
  readonly transport: "semaphore";
  /** Segment name in /dev/shm; the semaphores are `/<name>.empty`, `.full`, `.mutex`. */
  readonly name: string;
  readonly slots: number;
  readonly slotSize: number;
}

export interface SemaphoreListenOptions extends ListenOptions {
  /** Number of slots K, a power of two from 2 to 1024 (default: as many as fit 4 MiB, 2 to 32). */
  slots?: number;
  /**
   * Bytes per slot, a multiple of 64 (default 64 KiB, or what maxMessageSize
   * needs). A message never spans slots: maxMessageSize is at most
   * slotSize - 20.
   */
  slotSize?: number;
  /** A bare name for the segment and semaphores (default: a fresh unique one with the prefix). */
  name?: string;
}

interface Names {
  segment: string;
  empty: string;
  full: string;
  mutex: string;
}

function namesOf(name: string): Names {
  return { segment: name, empty: `/${name}.empty`, full: `/${name}.full`, mutex: `/${name}.mutex` };
}

function removeAll(n: Names): void {
  for (const s of [n.empty, n.full, n.mutex]) {
    try {
      semUnlink(s);
    } catch {
      // already gone
    }
  }
  try {
    removeSegment(n.segment);
  } catch {
    // already gone
  }
}

function words(seg: MappedSegment): Int32Array {
  return new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.size >>> 2);
}

function sizing(options: SemaphoreListenOptions): { slots: number; slotSize: number; maxMessageSize: number } {
  let slotSize = options.slotSize;
  const wanted = options.maxMessageSize;
  if (wanted !== undefined && (!Number.isInteger(wanted) || wanted < 0)) {
    throw new RangeError(`maxMessageSize must be a non-negative integer; got ${wanted}`);
  }
  if (slotSize === undefined) {
    slotSize = wanted === undefined ? SEMAPHORE_SLOT_SIZE : Math.max(4096, Math.ceil((wanted + SLOT_HEADER_BYTES + FRAME_HEADER_BYTES) / 64) * 64);
  }
  if (!Number.isInteger(slotSize) || slotSize % 64 !== 0 || slotSize < 64 || slotSize > MAX_SLOT_SIZE) {
    throw new RangeError(`slotSize must be a multiple of 64 from 64 to ${MAX_SLOT_SIZE}; got ${slotSize}`);
  }
  const ceiling = slotSize - SLOT_HEADER_BYTES - FRAME_HEADER_BYTES;
  const maxMessageSize = wanted ?? ceiling;
  if (maxMessageSize > ceiling) {
    throw new RangeError(`maxMessageSize ${maxMessageSize} does not fit a ${slotSize}-byte slot (at most ${ceiling}); raise slotSize or leave it unset`);
  }
  let slots = options.slots;
  if (slots === undefined) {
    slots = 2;
    while (slots < 32 && slots * 2 * slotSize <= 4 * 1024 * 1024) slots *= 2;
  }
  if (!Number.isInteger(slots) || slots < 2 || slots > 1024 || (slots & (slots - 1)) !== 0) {
    throw new RangeError(`slots must be a power of two from 2 to 1024; got ${slots}`);
  }
  return { slots, slotSize, maxMessageSize };
}

const scratchParsed: ParsedFrames = { count: 0, consumed: 0, goodbye: false, oversized: 0 };

interface ProducerSeat {
  pid: number;
  id: number;
}

class SemaphoreReceiver extends CoreReceiver {
  readonly address: SemaphoreAddress;
  protected readonly core: ReceiverCore;
  private readonly w: Int32Array;
  private readonly seats: Array<ProducerSeat | undefined> = new Array(MAX_PRODUCERS).fill(undefined);
  private out = 0;
  private credits = 0;
  private paused = false;
  private resume: (() => void) | undefined;
  private lastCheck = 0;
  private scratch: Int32Array;
  private readonly unregister: () => void;

  constructor(
    private readonly names: Names,
    private readonly seg: MappedSegment,
    private readonly empty: PosixSemaphore,
    private readonly full: PosixSemaphore,
    private readonly mutex: PosixSemaphore,
    private readonly slots: number,
    private readonly slotSize: number,
    maxMessageSize: number,
    options: SemaphoreListenOptions,
  ) {
    super();
    this.address = { transport: "semaphore", name: names.segment, slots, slotSize, maxMessageSize };
    this.w = words(seg);
    this.scratch = new Int32Array(2 * Math.ceil((slotSize - SLOT_HEADER_BYTES) / FRAME_HEADER_BYTES));
    this.unregister = removeOnExit(() => removeAll(names));
    this.core = new ReceiverCore({
      expectedProducers: options.expectedProducers,
      onPeerLost: options.onPeerLost,
      onPressure: (high) => {
        this.paused = high;
        if (!high && this.resume) {
          const r = this.resume;
          this.resume = undefined;
          r();
        }
      },
      close: () => this.release(),
    });
    void this.run().catch((err) => {
      // Nothing here should throw; if it does, report it as a lost channel.
      if (!this.core.closed) this.core.producerLost(-1, ChannelError.is(err) ? err : new ChannelError("ESYSCALL", `the semaphore channel ${names.segment} failed: ${String(err)}`, { cause: err }));
    });
  }

  async admit(): Promise<Admission> {
    if (this.core.closed) throw new ChannelError("ECLOSED", `cannot admit a producer: the semaphore channel ${this.names.segment} is closed`);
    return { address: this.address, inherit: [], release: () => {} };
  }

  private async run(): Promise<void> {
    while (!this.core.closed) {
      this.drain();
      this.scan(false);
      if (this.core.finished) return;
      if (this.paused) {
        await new Promise<void>((r) => (this.resume = r));
        continue;
      }
      let woke: boolean;
      try {
        woke = this.full.tryWait() || (await this.full.wait(CHECK_MS));
      } catch (err) {
        if (this.core.closed) return;
        throw err;
      }
      if (woke) this.credits++;
      else this.scan(true);
    }
  }

  /** Reads every committed slot; one batch per slot. */
  private drain(): void {
    const w = this.w;
    const buf = this.seg.buffer;
    let n = 0;
    for (;;) {
      const inSeq = Atomics.load(w, H_IN);
      if (inSeq === this.out) break;
      const off = HEADER_BYTES + (this.out & (this.slots - 1)) * this.slotSize;
      const o4 = off >>> 2;
      const index = w[o4]!;
      const used = w[o4 + 1]!;
      const flags = w[o4 + 2]!;
      const pid = w[o4 + 3]!;
      let data: Buffer | undefined;
      if (used > 0 && used <= this.slotSize - SLOT_HEADER_BYTES) {
        data = Buffer.allocUnsafe(used);
        buf.copy(data, 0, off + SLOT_HEADER_BYTES, off + SLOT_HEADER_BYTES + used);
      }
      this.out = (this.out + 1) | 0;
      Atomics.store(w, H_OUT, this.out);
      this.empty.post();
      n++;
      this.deliver(index, pid, used, flags, data);
    }
    // Each committed slot posted `full` once; take the units for the slots
    // read without waiting (the post may still be on its way: then a later
    // wake-up finds nothing, which is harmless).
    this.credits -= n;
    while (this.credits < 0 && this.full.tryWait()) this.credits++;
    if (this.credits < 0) this.credits = 0;
  }

  private seatOf(index: number, pid: number): ProducerSeat | undefined {
    if (index < 0 || index >= MAX_PRODUCERS) return undefined;
    let seat = this.seats[index];
    if (!seat || seat.pid !== pid) {
      seat = { pid, id: this.core.attach() };
      this.seats[index] = seat;
    }
    return seat;
  }

  private deliver(index: number, pid: number, used: number, flags: number, data: Buffer | undefined): void {
    const seat = this.seatOf(index, pid);
    if (!seat) return;
    const max = this.address.maxMessageSize;
    if (used > 0 && !data) return this.lose(index, seat, `sent a slot of ${used} bytes, more than a slot holds`, "EPROTO");
    if (data) {
      const parsed = parseFrames(data, 0, data.length, max, this.scratch, scratchParsed);
      if (parsed.oversized) return this.lose(index, seat, `sent a frame of ${parsed.oversized} bytes, over the ${max}-byte limit`, "EPROTO");
      if (parsed.consumed !== data.length || parsed.goodbye) return this.lose(index, seat, "sent a malformed slot", "EPROTO");
      if (parsed.count > 0) this.core.push({ count: parsed.count, data, offsets: this.scratch.slice(0, 2 * parsed.count), producer: seat.id });
    }
    if (flags & FLAG_GOODBYE) {
      this.freeEntry(index);
      this.core.producerClosed(seat.id);
    }
  }

  private freeEntry(index: number): void {
    this.seats[index] = undefined;
    const e = TABLE_WORD + index * 4;
    Atomics.store(this.w, e + E_STATE, 0);
    Atomics.store(this.w, e + E_HOLDS_EMPTY, 0);
    Atomics.store(this.w, e + E_PID, 0);
  }

  private lose(index: number, seat: ProducerSeat, what: string, code: "EPEERGONE" | "EPROTO"): void {
    this.freeEntry(index);
    this.core.producerLost(seat.id, new ChannelError(code, `semaphore producer ${seat.id} (pid ${seat.pid}) on ${this.names.segment} ${what}`, { producer: seat.id, resource: this.names.segment }));
  }

  /** Attaches newly registered producers; with `probe` (or every CHECK_MS) finds dead ones and recovers what they held. */
  private scan(probe: boolean): void {
    const now = Date.now();
    const doProbe = probe || now - this.lastCheck >= CHECK_MS;
    if (doProbe) this.lastCheck = now;
    const w = this.w;
    for (let i = 0; i < MAX_PRODUCERS; i++) {
      const e = TABLE_WORD + i * 4;
      const pid = Atomics.load(w, e + E_PID);
      if (pid === 0) continue;
      const seat = this.seatOf(i, pid);
      if (!seat || !doProbe || isProcessAlive(pid)) continue;
      // Dead: deliver what it committed first, then recover what it held.
      this.drain();
      if (this.seats[i] !== seat) continue; // its goodbye was in there
      if (Atomics.compareExchange(w, e + E_HOLDS_EMPTY, 1, 0) === 1) this.empty.post();
      if (Atomics.compareExchange(w, H_MUTEX_OWNER, pid, 0) === pid) this.mutex.post();
      this.lose(i, seat, "went away without closing", "EPEERGONE");
    }
  }

  private release(): void {
    const w = this.w;
    Atomics.store(w, H_STATE, STATE_CLOSED);
    // Wake producers blocked on a free slot or the lock: they see the state.
    let waiting = 0;
    for (let i = 0; i < MAX_PRODUCERS; i++) if (Atomics.load(w, TABLE_WORD + i * 4 + E_PID) !== 0) waiting++;
    for (let i = 0; i < waiting; i++) {
      this.empty.post();
      this.mutex.post();
    }
    this.full.close();
    this.empty.close();
    this.mutex.close();
    removeAll(this.names);
    this.seg.close();
    this.unregister();
    if (this.resume) {
      const r = this.resume;
      this.resume = undefined;
      r();
    }
  }
}

async function listen(options: SemaphoreListenOptions = {}): Promise<Receiver> {
  const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
  const { slots, slotSize, maxMessageSize } = sizing(options);
  const name = options.name !== undefined ? validateName(options.name, "semaphore channel", 200) : uniqueName(prefix);
  const names = namesOf(name);
  const size = HEADER_BYTES + slots * slotSize;
  const seg = createSegment(names.segment, size);
  const opened: PosixSemaphore[] = [];
  try {
    const w = words(seg);
    w[H_VERSION] = VERSION;
    w[H_SLOTS] = slots;
    w[H_SLOT_SIZE] = slotSize;
    w[H_RECEIVER] = process.pid;
    w[H_TABLE_CAP] = MAX_PRODUCERS;
    w[H_MAX_MESSAGE] = maxMessageSize;
    opened.push(semOpen(names.empty, { create: true, exclusive: true, value: slots }));
    opened.push(semOpen(names.full, { create: true, exclusive: true, value: 0 }));
    opened.push(semOpen(names.mutex, { create: true, exclusive: true, value: 1 }));
    Atomics.store(w, H_MAGIC, MAGIC);
  } catch (err) {
    for (const s of opened) s.close();
    // Remove only what this call created: the segment, and semaphores it opened.
    for (const s of opened) {
      try {
        semUnlink(s.name);
      } catch {
        // gone
      }
    }
    seg.close();
    seg.unlink();
    throw err;
  }
  return new SemaphoreReceiver(names, seg, opened[0]!, opened[1]!, opened[2]!, slots, slotSize, maxMessageSize, options);
}

interface Chunk {
  buf: Buffer;
  used: number;
  flags: number;
}

const HIGH_WATER_SLOTS = 4;

class SemaphoreSender implements Sender {
  readonly maxMessageSize: number;
  private readonly w: Int32Array;
  private readonly capacity: number;
  private chunk: Buffer;
  private pos = 0;
  private readonly ready: Chunk[] = [];
  private readonly pool: Buffer[] = [];
  private queued = 0;
  private readonly highWater: number;
  private flushScheduled = false;
  private pumping = false;
  private failure: ChannelError | undefined;
  private closing: Promise<void> | undefined;
  private isClosed = false;
  private released = false;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private readonly markEmptyHeld: SemMark;
  private readonly markMutexOwned: SemMark;
  private readonly markMutexFree: SemMark;
  private readonly flushNow = () => {
    this.flushScheduled = false;
    this.cut(0);
  };

  constructor(
    private readonly a: SemaphoreAddress,
    private readonly seg: MappedSegment,
    private readonly empty: PosixSemaphore,
    private readonly full: PosixSemaphore,
    private readonly mutex: PosixSemaphore,
    private readonly entry: number,
  ) {
    this.maxMessageSize = a.maxMessageSize;
    this.w = words(seg);
    this.capacity = a.slotSize - SLOT_HEADER_BYTES;
    this.chunk = Buffer.allocUnsafeSlow(this.capacity);
    this.highWater = HIGH_WATER_SLOTS * this.capacity;
    const e = TABLE_WORD + entry * 4;
    this.markEmptyHeld = { words: this.w, index: e + E_HOLDS_EMPTY, value: 1 };
    this.markMutexOwned = { words: this.w, index: H_MUTEX_OWNER, value: process.pid };
    this.markMutexFree = { words: this.w, index: H_MUTEX_OWNER, value: 0 };
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.isClosed || this.closing) throw senderClosed(this.a.name);
  }

  write(message: Uint8Array): boolean {
    this.check();
    const len = message.length;
    if (len > this.maxMessageSize) {
      throw messageTooLarge(len, this.maxMessageSize, `semaphore channel ${this.a.name}`, this.a.name);
    }
    const need = FRAME_HEADER_BYTES + len;
    if (need > this.capacity - this.pos) this.cut(0);
    writeFrameHeader(this.chunk, this.pos, len);
    this.chunk.set(message, this.pos + FRAME_HEADER_BYTES);
    this.pos += need;
    this.queued += need;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
    return this.queued <= this.highWater;
  }

  /** Moves the current chunk (if any, or any with flags) to the ready queue and starts committing. */
  private cut(flags: number): void {
    if (this.pos > 0 || flags) {
      this.ready.push({ buf: this.chunk, used: this.pos, flags });
      this.chunk = this.pool.pop() ?? Buffer.allocUnsafeSlow(this.capacity);
      this.pos = 0;
    }
    this.pump();
  }

  private pump(): void {
    if (this.pumping || this.failure || this.ready.length === 0) return;
    this.pumping = true;
    this.commitAll().then(
      () => {
        this.pumping = false;
        this.wake();
        if (this.ready.length > 0) this.pump();
      },
      (err) => {
        this.pumping = false;
        this.fail(ChannelError.is(err) ? err : new ChannelError("ESYSCALL", `cannot send to ${this.a.name}: ${String(err)}`, { cause: err }));
      },
    );
  }

  private receiverGone(): ChannelError | undefined {
    const w = this.w;
    if (Atomics.load(w, H_STATE) === STATE_CLOSED) {
      return new ChannelError("EPEERGONE", `cannot send to semaphore channel ${this.a.name}: the receiver closed it`, { resource: this.a.name });
    }
    return undefined;
  }

  private async waitOn(sem: PosixSemaphore, mark: SemMark, what: string): Promise<void> {
    for (;;) {
      const gone = this.receiverGone();
      if (gone) throw gone;
      if (await sem.wait(CHECK_MS, mark)) return;
      const pid = Atomics.load(this.w, H_RECEIVER);
      if (!isProcessAlive(pid)) {
        throw new ChannelError("EPEERGONE", `cannot send to semaphore channel ${this.a.name}: the receiver (pid ${pid}) went away while this producer waited for ${what}`, { resource: this.a.name });
      }
    }
  }

  private async commitAll(): Promise<void> {
    const w = this.w;
    const e = TABLE_WORD + this.entry * 4;
    while (this.ready.length > 0) {
      const gone = this.receiverGone();
      if (gone) throw gone;
      if (Atomics.load(w, e + E_HOLDS_EMPTY) === 0 && !this.empty.tryWait(this.markEmptyHeld)) {
        await this.waitOn(this.empty, this.markEmptyHeld, "a free slot");
      }
      if (!this.mutex.tryWait(this.markMutexOwned)) await this.waitOn(this.mutex, this.markMutexOwned, "the buffer lock");
      const gone2 = this.receiverGone();
      if (gone2) {
        this.mutex.post(this.markMutexFree);
        throw gone2;
      }
      const c = this.ready.shift()!;
      const inSeq = Atomics.load(w, H_IN);
      const off = HEADER_BYTES + (inSeq & (this.a.slots - 1)) * this.a.slotSize;
      const o4 = off >>> 2;
      if (c.used > 0) c.buf.copy(this.seg.buffer, off + SLOT_HEADER_BYTES, 0, c.used);
      w[o4] = this.entry;
      w[o4 + 1] = c.used;
      w[o4 + 2] = c.flags;
      w[o4 + 3] = process.pid;
      // Give up the held-empty mark before the commit: a crash between the
      // two leaks one slot, never hands out a slot twice.
      Atomics.store(w, e + E_HOLDS_EMPTY, 0);
      Atomics.store(w, H_IN, (inSeq + 1) | 0);
      this.full.post();
      this.mutex.post(this.markMutexFree);
      this.queued -= c.used;
      if (this.pool.length < 4) this.pool.push(c.buf);
    }
  }

  private fail(err: ChannelError): void {
    if (this.failure) return;
    this.failure = err;
    const ws = this.waiters;
    this.waiters = [];
    for (const x of ws) x.reject(err);
    this.releaseHandles();
  }

  private wake(): void {
    if (this.waiters.length === 0 || this.queued > this.highWater) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const x of ws) x.resolve();
  }

  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pos > 0) this.cut(0);
    if (this.queued <= this.highWater) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  send(message: Uint8Array): Promise<void> {
    return writeOrDrain(this, message);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.failure) {
      this.isClosed = true;
      return Promise.reject(this.failure);
    }
    this.closing = new Promise<void>((resolve, reject) => {
      this.cut(FLAG_GOODBYE);
      const finish = () => {
        if (this.failure) {
          this.isClosed = true;
          return reject(this.failure);
        }
        if (this.ready.length > 0 || this.pumping) {
          this.waiters.push({ resolve: finish, reject: () => finish() });
          return;
        }
        this.isClosed = true;
        this.releaseHandles();
        resolve();
      };
      // `wake` resolves waiters once the queue is low; re-check until empty.
      const poll = () => {
        if (this.failure || (this.ready.length === 0 && !this.pumping)) finish();
        else this.waiters.push({ resolve: () => setImmediate(poll), reject: () => finish() });
      };
      poll();
    });
    return this.closing;
  }

  private releaseHandles(): void {
    if (this.released) return;
    this.released = true;
    this.empty.close();
    this.full.close();
    this.mutex.close();
    this.seg.close();
  }
}

async function connect(address: Address, options: ConnectOptions = {}): Promise<Sender> {
  const a = address as SemaphoreAddress;
  if (a.transport !== "semaphore" || typeof a.name !== "string" || !Number.isInteger(a.slots) || !Number.isInteger(a.slotSize)) {
    throw new TypeError(`not a semaphore address: ${JSON.stringify(address)}`);
  }
  void options;
  const names = namesOf(validateName(a.name, "semaphore channel", 200));
  let seg: MappedSegment;
  try {
    seg = openSegment(names.segment, HEADER_BYTES + a.slots * a.slotSize);
  } catch (err) {
    if (ChannelError.is(err, "ENOENT")) throw new ChannelError("EPEERGONE", `cannot attach to semaphore channel ${a.name}: it does not exist (the receiver is gone)`, { resource: a.name, cause: err });
    throw err;
  }
  const opened: PosixSemaphore[] = [];
  try {
    const w = words(seg);
    if (Atomics.load(w, H_MAGIC) !== MAGIC || w[H_VERSION] !== VERSION || w[H_SLOTS] !== a.slots || w[H_SLOT_SIZE] !== a.slotSize) {
      throw new ChannelError("EPROTO", `cannot attach to semaphore channel ${a.name}: its header does not match the address`, { resource: a.name });
    }
    if (Atomics.load(w, H_STATE) === STATE_CLOSED || !isProcessAlive(w[H_RECEIVER]!)) {
      throw new ChannelError("EPEERGONE", `cannot attach to semaphore channel ${a.name}: the receiver is gone`, { resource: a.name });
    }
    for (const n of [names.empty, names.full, names.mutex]) opened.push(semOpen(n));
    let entry = -1;
    for (let i = 0; i < MAX_PRODUCERS; i++) {
      if (Atomics.compareExchange(w, TABLE_WORD + i * 4 + E_PID, 0, process.pid) === 0) {
        entry = i;
        break;
      }
    }
    if (entry < 0) throw new ChannelError("ELIMIT", `cannot attach to semaphore channel ${a.name}: ${MAX_PRODUCERS} producers are attached already`, { resource: a.name });
    Atomics.store(w, TABLE_WORD + entry * 4 + E_STATE, 1);
    return new SemaphoreSender(a, seg, opened[0]!, opened[1]!, opened[2]!, entry);
  } catch (err) {
    for (const s of opened) s.close();
    seg.close();
    if (ChannelError.is(err) && err.code === "ENOENT") {
      throw new ChannelError("EPEERGONE", `cannot attach to semaphore channel ${a.name}: the receiver is gone`, { resource: a.name, cause: err });
    }
    throw err;
  }
}

/** Names of this transport's segments and semaphores with the prefix (semaphores with their leading slash). */
async function list(prefix = DEFAULT_PREFIX): Promise<string[]> {
  return [...listSegments(prefix), ...listSemaphores(prefix)];
}

/** Removes segments and semaphores with the prefix whose owner process (pid in the name) is gone. */
async function removeStale(prefix = DEFAULT_PREFIX): Promise<string[]> {
  return [...removeStaleSegments(prefix), ...removeStaleSemaphores(prefix)];
}

export const semaphoreTransport: Transport<SemaphoreListenOptions> = { descriptor: semaphoreDescriptor, listen, connect, list, removeStale };
