import { ChannelError, DEFAULT_PREFIX, namedResources, validatePrefix, type RemoveStaleOptions, type StaleEntry } from "@ipc-sampler/core";
import { createSegment, listSegments, openSegment, removeSegment, segmentExists, segments, type MappedSegment } from "@ipc-sampler/posix";

/**
 * Typed values shared between processes through a /dev/shm segment, with
 * atomic read-modify-write (what Python's multiprocessing.shared_memory
 * examples do with a lock, done here lock-free). Every operation is a
 * single `Atomics` instruction on the mapping, which is atomic across
 * processes; Float64 add and compare-exchange run a compare-and-swap loop
 * on the 64-bit pattern.
 *
 * Segment: a 64-byte header (magic, kind, length, creator pid), then the
 * elements. Names get the prefix (default `ipcs-`) and the tag `val-`.
 */
const MAGIC = 0x31564853; // "SHV1"
const KIND_INT32 = 1;
const KIND_FLOAT64 = 2;
const DATA_OFFSET = 64;
const TAG = "val-";

export interface SharedArrayOptions {
  /** Name prefix (default `ipcs-`), so leftovers can be listed and removed. */
  prefix?: string;
  /** mode — shm_open(3). File mode when creating (default 0o600). */
  mode?: number;
}

function fullName(name: string, options: SharedArrayOptions): string {
  return `${validatePrefix(options.prefix ?? DEFAULT_PREFIX)}${TAG}${name}`;
}

function createTyped(name: string, kind: number, length: number, elementBytes: number, options: SharedArrayOptions): MappedSegment {
  if (!Number.isInteger(length) || length < 1 || length > 2 ** 28) throw new RangeError(`length must be an integer from 1 to 2^28; got ${length}`);
  const seg = createSegment(fullName(name, options), DATA_OFFSET + length * elementBytes, { mode: options.mode ?? 0o600 });
  const h = new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, 16);
  h[1] = kind;
  h[2] = length;
  h[3] = process.pid;
  Atomics.store(h, 0, MAGIC);
  seg.close();
  return seg;
}

function openTyped(name: string, kind: number, options: SharedArrayOptions): { seg: MappedSegment; length: number } {
  const seg = openSegment(fullName(name, options));
  seg.close();
  const h = new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, 16);
  if (Atomics.load(h, 0) !== MAGIC) throw new ChannelError("EPROTO", `cannot open shared value ${seg.path}: it is not an ipc-sampler shared array (or is still being created)`, { resource: seg.path });
  if (h[1] !== kind) throw new ChannelError("EPROTO", `cannot open shared value ${seg.path}: it holds ${h[1] === KIND_INT32 ? "Int32" : "Float64"} elements`, { resource: seg.path });
  return { seg, length: h[2]! };
}

abstract class SharedBase {
  protected constructor(protected readonly segment: MappedSegment, readonly length: number) {}
  get path(): string {
    return this.segment.path;
  }
  protected check(i: number): void {
    if (!(i >= 0 && i < this.length && Number.isInteger(i))) throw new RangeError(`index must be an integer from 0 to ${this.length - 1}; got ${i}`);
  }
  /** Removes the segment (other processes' mappings stay valid until they drop them). */
  unlink(): void {
    this.segment.unlink();
  }
}

/** An Int32Array in shared memory with atomic operations across processes. */
export class SharedInt32Array extends SharedBase {
  /** The elements, for direct `Atomics.*` use. */
  readonly array: Int32Array;

  private constructor(segment: MappedSegment, length: number) {
    super(segment, length);
    this.array = new Int32Array(segment.buffer.buffer, segment.buffer.byteOffset + DATA_OFFSET, length);
  }

  /** Creates it (exclusive: EEXIST if the name is taken), zero-filled. */
  static create(name: string, length: number, options: SharedArrayOptions = {}): SharedInt32Array {
    return new SharedInt32Array(createTyped(name, KIND_INT32, length, 4, options), length);
  }
  /** Opens it, or creates it (`length` elements, zero-filled) when there is none. */
  static openOrCreate(name: string, length: number, options: SharedArrayOptions = {}): SharedInt32Array {
    return openOrCreateTyped(() => SharedInt32Array.create(name, length, options), () => SharedInt32Array.open(name, options));
  }
  /** Removes shared values with the prefix that no live process owns (the creator's mapping holds the lock); says what it decided for each. */
  static removeStale(options: RemoveStaleOptions = {}): StaleEntry[] {
    return removeStaleShared(options);
  }
  static open(name: string, options: SharedArrayOptions = {}): SharedInt32Array {
    const { seg, length } = openTyped(name, KIND_INT32, options);
    return new SharedInt32Array(seg, length);
  }
  static exists(name: string, options: SharedArrayOptions = {}): boolean {
    return segmentExists(fullName(name, options));
  }
  static remove(name: string, options: SharedArrayOptions = {}): void {
    removeSegment(fullName(name, options));
  }
  /** Names (without prefix and tag) of shared values that exist now. */
  static list(options: SharedArrayOptions = {}): string[] {
    return listShared(options);
  }

  load(i: number): number {
    this.check(i);
    return Atomics.load(this.array, i);
  }
  store(i: number, value: number): number {
    this.check(i);
    return Atomics.store(this.array, i, value);
  }
  /** Adds and returns the previous value (wraps at 32 bits, as Int32Array does). */
  add(i: number, value: number): number {
    this.check(i);
    return Atomics.add(this.array, i, value);
  }
  sub(i: number, value: number): number {
    this.check(i);
    return Atomics.sub(this.array, i, value);
  }
  exchange(i: number, value: number): number {
    this.check(i);
    return Atomics.exchange(this.array, i, value);
  }
  /** Stores `replacement` if the element equals `expected`; returns the value found. */
  compareExchange(i: number, expected: number, replacement: number): number {
    this.check(i);
    return Atomics.compareExchange(this.array, i, expected, replacement);
  }
}

const scratchF = new Float64Array(1);
const scratchB = new BigInt64Array(scratchF.buffer);
function bits(v: number): bigint {
  scratchF[0] = v;
  return scratchB[0]!;
}
function fromBits(b: bigint): number {
  scratchB[0] = b;
  return scratchF[0]!;
}

/** A Float64Array in shared memory; add and compare-exchange are CAS loops on the 64-bit pattern. */
export class SharedFloat64Array extends SharedBase {
  /** The elements as numbers (plain reads and writes; use the methods for atomicity). */
  readonly array: Float64Array;
  private readonly raw: BigInt64Array;

  private constructor(segment: MappedSegment, length: number) {
    super(segment, length);
    this.array = new Float64Array(segment.buffer.buffer, segment.buffer.byteOffset + DATA_OFFSET, length);
    this.raw = new BigInt64Array(segment.buffer.buffer, segment.buffer.byteOffset + DATA_OFFSET, length);
  }

  static create(name: string, length: number, options: SharedArrayOptions = {}): SharedFloat64Array {
    return new SharedFloat64Array(createTyped(name, KIND_FLOAT64, length, 8, options), length);
  }
  /** Opens it, or creates it (`length` elements, zero-filled) when there is none. */
  static openOrCreate(name: string, length: number, options: SharedArrayOptions = {}): SharedFloat64Array {
    return openOrCreateTyped(() => SharedFloat64Array.create(name, length, options), () => SharedFloat64Array.open(name, options));
  }
  /** Removes shared values with the prefix that no live process owns (the creator's mapping holds the lock); says what it decided for each. */
  static removeStale(options: RemoveStaleOptions = {}): StaleEntry[] {
    return removeStaleShared(options);
  }
  static open(name: string, options: SharedArrayOptions = {}): SharedFloat64Array {
    const { seg, length } = openTyped(name, KIND_FLOAT64, options);
    return new SharedFloat64Array(seg, length);
  }
  static exists(name: string, options: SharedArrayOptions = {}): boolean {
    return segmentExists(fullName(name, options));
  }
  static remove(name: string, options: SharedArrayOptions = {}): void {
    removeSegment(fullName(name, options));
  }
  static list(options: SharedArrayOptions = {}): string[] {
    return listShared(options);
  }

  load(i: number): number {
    this.check(i);
    return fromBits(Atomics.load(this.raw, i));
  }
  store(i: number, value: number): number {
    this.check(i);
    Atomics.store(this.raw, i, bits(value));
    return value;
  }
  exchange(i: number, value: number): number {
    this.check(i);
    return fromBits(Atomics.exchange(this.raw, i, bits(value)));
  }
  /** Adds atomically (CAS loop) and returns the previous value. */
  add(i: number, value: number): number {
    this.check(i);
    const raw = this.raw;
    let old = Atomics.load(raw, i);
    for (;;) {
      const next = bits(fromBits(old) + value);
      const seen = Atomics.compareExchange(raw, i, old, next);
      if (seen === old) return fromBits(old);
      old = seen;
    }
  }
  /**
   * Stores `replacement` if the element equals `expected` bit for bit
   * (so NaN matches the same NaN, and 0 does not match -0); returns the value found.
   */
  compareExchange(i: number, expected: number, replacement: number): number {
    this.check(i);
    return fromBits(Atomics.compareExchange(this.raw, i, bits(expected), bits(replacement)));
  }
}

function listShared(options: SharedArrayOptions): string[] {
  const lead = `${validatePrefix(options.prefix ?? DEFAULT_PREFIX)}${TAG}`;
  return listSegments(options.prefix ?? DEFAULT_PREFIX)
    .filter((n) => n.startsWith(lead))
    .map((n) => n.slice(lead.length));
}

function openOrCreateTyped<T>(create: () => T, open: () => T): T {
  try {
    return create();
  } catch (err) {
    if (!ChannelError.is(err, "EEXIST")) throw err;
    return open();
  }
}

/** Every shared value, `<prefix>val-…` in /dev/shm, as one named-resource capability (for listing and cleaning). */
export const sharedValues = namedResources([segments, TAG.slice(0, -1)]);

function removeStaleShared(options: RemoveStaleOptions): StaleEntry[] {
  return segments.removeStale({ ...options, prefix: `${validatePrefix(options.prefix ?? DEFAULT_PREFIX)}${TAG}` });
}
