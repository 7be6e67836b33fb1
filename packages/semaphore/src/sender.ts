import { ChannelError, FRAME_HEADER_BYTES, SenderBase, waitForResource, validateName, writeFrameHeader, type Address, type ConnectOptions, type Sender } from "@ipc-sampler/core";
import { claimSlot, openSegment, publishSoon, semOpen, truncatedError, type MappedSegment, type PosixSemaphore, type SemMark } from "@ipc-sampler/posix";
import type { SemaphoreAddress } from "./index.js";
import { MAGIC, VERSION, HEADER_BYTES, H_MAGIC, H_VERSION, H_SLOTS, H_SLOT_SIZE, H_STATE, H_IN, H_MUTEX_OWNER, TABLE_WORD, MAX_PRODUCERS, E_PID, E_STATE, E_HOLDS_EMPTY, SLOT_HEADER_BYTES, FLAG_GOODBYE, STATE_CLOSED, CHECK_MS, namesOf, words } from "./layout.js";

// The producer side: coalesces messages into slot-sized chunks and commits one slot per empty/mutex/full round.

interface Chunk {
  buf: Buffer;
  used: number;
  flags: number;
}

const HIGH_WATER_SLOTS = 4;

class SemaphoreSender extends SenderBase {
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
    super({ maxMessageSize: a.maxMessageSize, target: `semaphore channel ${a.name}`, resource: a.name });
    this.w = words(seg);
    this.capacity = a.slotSize - SLOT_HEADER_BYTES;
    this.chunk = Buffer.allocUnsafeSlow(this.capacity);
    this.highWater = HIGH_WATER_SLOTS * this.capacity;
    const e = TABLE_WORD + entry * 4;
    this.markEmptyHeld = { words: this.w, index: e + E_HOLDS_EMPTY, value: 1 };
    this.markMutexOwned = { words: this.w, index: H_MUTEX_OWNER, value: entry + 1 };
    this.markMutexFree = { words: this.w, index: H_MUTEX_OWNER, value: 0 };
  }

  write(message: Uint8Array): boolean {
    const len = message.length;
    this.admit(len);
    const need = FRAME_HEADER_BYTES + len;
    if (need > this.capacity - this.pos) this.cut(0);
    writeFrameHeader(this.chunk, this.pos, len);
    this.chunk.set(message, this.pos + FRAME_HEADER_BYTES);
    this.pos += need;
    this.queued += need;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // At the end of the tick, or sooner when a receiver in this process is about to spin or sleep.
      publishSoon(this.flushNow);
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
    if (this.seg.truncated()) return truncatedError(this.seg.path);
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
      // The receiver's mapping holds the segment's owner lock: no pid is trusted.
      if (!this.seg.ownerAlive()) {
        throw new ChannelError("EPEERGONE", `cannot send to semaphore channel ${this.a.name}: the receiver went away while this producer waited for ${what}`, { resource: this.a.name });
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

  protected override belowHighWater(): boolean {
    return this.queued <= this.highWater;
  }

  protected override flushPending(): void {
    if (this.pos > 0) this.cut(0);
  }

  protected override onFailure(): void {
    this.releaseOnce();
  }

  protected async finish(): Promise<void> {
    this.cut(FLAG_GOODBYE);
    // `wake` resolves waiters once the queue is low; re-check until empty.
    await this.whenIdle(() => this.ready.length === 0 && !this.pumping);
  }

  protected override release(): void {
    this.empty.close();
    this.full.close();
    this.mutex.close();
    this.seg.unlockSlot(this.entry); // its goodbye is committed (or the channel failed): the receiver finds it first
    this.seg.close();
  }
}

export async function connect(address: Address, options: ConnectOptions = {}): Promise<Sender> {
  const a = address as SemaphoreAddress;
  if (a.transport !== "semaphore" || typeof a.name !== "string" || !Number.isInteger(a.slots) || !Number.isInteger(a.slotSize)) {
    throw new TypeError(`not a semaphore address: ${JSON.stringify(address)}`);
  }
  const names = namesOf(validateName(a.name, "semaphore channel", 200));
  const seg = await waitForResource("semaphore channel", a.name, options.timeoutMs ?? 10_000, () => openSegment(names.segment, HEADER_BYTES + a.slots * a.slotSize));
  const opened: PosixSemaphore[] = [];
  try {
    const w = words(seg);
    if (Atomics.load(w, H_MAGIC) !== MAGIC || w[H_VERSION] !== VERSION || w[H_SLOTS] !== a.slots || w[H_SLOT_SIZE] !== a.slotSize) {
      throw new ChannelError("EPROTO", `cannot attach to semaphore channel ${a.name}: its header does not match the address`, { resource: a.name });
    }
    if (Atomics.load(w, H_STATE) === STATE_CLOSED || !seg.ownerAlive()) {
      throw new ChannelError("EPEERGONE", `cannot attach to semaphore channel ${a.name}: the receiver is gone`, { resource: a.name });
    }
    for (const n of [names.empty, names.full, names.mutex]) opened.push(semOpen(n));
    // The entry's lock first, then the entry: a registered entry whose lock is free has a dead producer.
    const entry = claimSlot(MAX_PRODUCERS, seg, (i) => Atomics.compareExchange(w, TABLE_WORD + i * 4 + E_PID, 0, process.pid) === 0);
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
