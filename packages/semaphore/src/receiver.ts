import { ChannelError, CoreReceiver, DEFAULT_PREFIX, FRAME_HEADER_BYTES, ReceiverCore, TURN_MS, nextTurn, parseFrames, removeOnExit, uniqueName, validateName, validatePrefix, type Admission, type ParsedFrames, type Receiver } from "@ipc-sampler/core";
import { AdaptiveSpin, createSegment, publishOwed, semOpen, semUnlink, semaphoreFutexWait, truncatedError, type MappedSegment, type PosixSemaphore, type SemaphoreFutexWait } from "@ipc-sampler/posix";
import type { SemaphoreAddress, SemaphoreListenOptions } from "./index.js";
import { MAGIC, VERSION, HEADER_BYTES, H_MAGIC, H_VERSION, H_SLOTS, H_SLOT_SIZE, H_RECEIVER, H_STATE, H_IN, H_OUT, H_MUTEX_OWNER, H_TABLE_CAP, H_MAX_MESSAGE, TABLE_WORD, MAX_PRODUCERS, E_PID, E_STATE, E_HOLDS_EMPTY, SLOT_HEADER_BYTES, FLAG_GOODBYE, STATE_CLOSED, CHECK_MS, CHANNEL_TAG, Names, namesOf, removeAll, words, sizing } from "./layout.js";

// The consumer side: owns the segment and the three semaphores, reads committed slots, and recovers what a dead producer held.

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
  /** When the event loop last turned under run() (it awaited a wake-up or an immediate); see core turn.ts. */
  private turnedAt = performance.now();
  private scratch: Int32Array;
  private readonly unregister: () => void;
  private readonly spin = new AdaptiveSpin();
  /** A slot committed that this receiver has not read: the spin's probe (a load, no system call). */
  private readonly committed = () => Atomics.load(this.w, H_IN) !== this.out;

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
    /** Sleeps on `full` through its futex word on this thread (see posix sem-futex.ts); absent: sem_clockwait on a waiter thread. */
    private readonly fullWait: SemaphoreFutexWait | undefined,
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
      // Only a truncated segment should end up here; anything else is reported as a broken channel too.
      if (!this.core.closed) this.core.fail(ChannelError.is(err) ? err : new ChannelError("ESYSCALL", `the semaphore channel ${names.segment} failed: ${String(err)}`, { cause: err }));
    });
  }

  async admit(): Promise<Admission> {
    if (this.core.closed) throw new ChannelError("ECLOSED", `cannot admit a producer: the semaphore channel ${this.names.segment} is closed`);
    return { address: this.address, inherit: [], release: () => {} };
  }

  private async run(): Promise<void> {
    while (!this.core.closed) {
      // A producer that commits as fast as this loop reads never lets it reach a wait: give the event loop a turn.
      if (performance.now() - this.turnedAt >= TURN_MS) {
        await nextTurn();
        this.turnedAt = performance.now();
        if (this.core.closed) return;
      }
      this.drain();
      this.scan(false);
      if (this.core.finished) return;
      if (this.paused) {
        await new Promise<void>((r) => (this.resume = r));
        continue;
      }
      let woke: boolean;
      try {
        woke = this.full.tryWait();
        if (!woke && this.spin.max > 0) {
          // Batches are pushed to the consumer: let it run (and answer) before spinning, so a
          // reply goes out first; then a bounded spin on the commit word, cheaper than a
          // sleeping wake-up when the peer is quick.
          await nextTurn();
          this.turnedAt = performance.now();
          if (this.core.closed) return;
          publishOwed();
          if (this.committed() || this.spin.spin(this.committed)) continue;
        }
        if (!woke) {
          const started = performance.now();
          woke = await (this.fullWait ? this.fullWait.wait(CHECK_MS) : this.full.wait(CHECK_MS));
          // close() ends the futex wait with false rather than ECLOSED: the segment may be unmapped now.
          if (this.core.closed) return;
          this.turnedAt = performance.now();
          this.spin.slept(this.turnedAt - started);
        }
      } catch (err) {
        if (this.core.closed) return;
        throw err;
      }
      if (woke) this.credits++;
      else this.scan(true);
    }
  }

  /** Reads the committed slots, at most one ring's worth (a producer may refill as fast as this reads); one batch per slot. */
  private drain(): void {
    const w = this.w;
    const buf = this.seg.buffer;
    let n = 0;
    for (; n < this.slots; ) {
      const inSeq = Atomics.load(w, H_IN);
      // Shrunk by a peer: the slots now read as zeros here, and H_IN would never catch up with `out`.
      if (this.seg.truncated()) throw truncatedError(this.seg.path);
      if (inSeq === this.out) break;
      // At most `slots` are ever committed and unread. A counter further ahead was moved outside the
      // protocol, by a producer this receiver cannot name: the shared ring is no longer trustworthy.
      if ((inSeq - this.out) >>> 0 > this.slots) {
        throw new ChannelError("EPROTO", `the semaphore channel ${this.names.segment} is broken: its commit counter is ${(inSeq - this.out) >>> 0} slots ahead of the receiver, and the ring holds ${this.slots}`, { resource: this.names.segment });
      }
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

  /**
   * The producer behind table entry `index`, if that entry is registered to
   * `pid`. Only the receiver clears an entry, after its producer's goodbye or
   * death, so an honest slot always names an entry that still holds its pid.
   */
  private seatOf(index: number, pid: number): ProducerSeat | undefined {
    if (index < 0 || index >= MAX_PRODUCERS || pid === 0 || Atomics.load(this.w, TABLE_WORD + index * 4 + E_PID) !== pid) return undefined;
    let seat = this.seats[index];
    if (seat && seat.pid !== pid) {
      // The entry's pid changed under a live producer: a peer wrote the table outside the protocol. Drop
      // that seat, so every producer this receiver counted ends (closed or lost) and iteration can finish.
      this.core.producerLost(seat.id, new ChannelError("EPROTO", `semaphore producer ${seat.id} (pid ${seat.pid}) on ${this.names.segment} lost its table entry to pid ${pid}`, { producer: seat.id, resource: this.names.segment }));
      seat = undefined;
    }
    if (!seat) {
      seat = { pid, id: this.core.attach() };
      this.seats[index] = seat;
    }
    return seat;
  }

  private deliver(index: number, pid: number, used: number, flags: number, data: Buffer | undefined): void {
    const seat = this.seatOf(index, pid);
    if (!seat) {
      // Forged, or sent by a producer this receiver already dropped: reported, never delivered.
      this.core.peerRejected(new ChannelError("EPROTO", `a slot on ${this.names.segment} named table entry ${index} and pid ${pid}, which no attached producer holds: its ${used} bytes were dropped`, { resource: this.names.segment }));
      return;
    }
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

  /**
   * Attaches newly registered producers; with `probe` (or every CHECK_MS)
   * finds dead ones, whose entry lock the kernel dropped, and recovers what
   * they held. The pid in an entry is never trusted: it names the process in
   * its own pid namespace, and only in messages.
   */
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
      if (!seat || !doProbe || this.seg.slotHeld(i)) continue;
      // Dead: deliver what it committed first, then recover what it held. One drain() reads
      // them all: at most K slots are ever committed and unread, and it reads K.
      this.drain();
      if (this.seats[i] !== seat) continue; // its goodbye was in there
      if (Atomics.compareExchange(w, e + E_HOLDS_EMPTY, 1, 0) === 1) this.empty.post();
      if (Atomics.compareExchange(w, H_MUTEX_OWNER, i + 1, 0) === i + 1) this.mutex.post();
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
    this.fullWait?.close();
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

export async function listen(options: SemaphoreListenOptions = {}): Promise<Receiver> {
  const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
  const { slots, slotSize, maxMessageSize } = sizing(options);
  const name = options.name !== undefined ? validateName(options.name, "semaphore channel", 200) : uniqueName(prefix, CHANNEL_TAG);
  const names = namesOf(name);
  const size = HEADER_BYTES + slots * slotSize;
  const seg = createSegment(names.segment, size);
  const opened: PosixSemaphore[] = [];
  let fullWait: SemaphoreFutexWait | undefined;
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
    // Checked before any producer can attach (the magic word below): `full` holds no unit yet.
    fullWait = semaphoreFutexWait(opened[1]!);
    Atomics.store(w, H_MAGIC, MAGIC);
  } catch (err) {
    fullWait?.close();
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
  return new SemaphoreReceiver(names, seg, opened[0]!, opened[1]!, opened[2]!, slots, slotSize, maxMessageSize, options, fullWait);
}
