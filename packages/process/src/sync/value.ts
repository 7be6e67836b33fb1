import { openLock, RLock, type Lock } from "./lock.js";
import { createBlock, DATA_OFFSET, openBlock, type Block, type SharedHandle } from "./shared.js";

/** Element types: Python's typecodes 'i', 'I', 'd', 'q'. */
export type ValueType = "i32" | "u32" | "f64" | "i64";
type Element<T extends ValueType> = T extends "i64" ? bigint : number;
type View<T extends ValueType> = T extends "i32" ? Int32Array : T extends "u32" ? Uint32Array : T extends "f64" ? Float64Array : BigInt64Array;

const TYPES: readonly ValueType[] = ["i32", "u32", "f64", "i64"];
const CTORS = { i32: Int32Array, u32: Uint32Array, f64: Float64Array, i64: BigInt64Array } as const;
const SIZES = { i32: 4, u32: 4, f64: 8, i64: 8 } as const;
const MAX_LENGTH = 1 << 26;

/** `lock`: true (default) an RLock of its own in the same segment, false none (Python's RawValue), or an existing Lock/RLock. */
export interface ValueOptions {
  lock?: boolean | Lock | RLock;
}

class TypedShared<T extends ValueType> {
  readonly $shared: SharedHandle;
  readonly type: T;
  readonly #view: View<T>;
  readonly #lock: Lock | RLock | undefined;

  protected constructor(kind: "value" | "array", type: T, length: number, o: ValueOptions, block?: Block) {
    const own = o.lock === undefined || o.lock === true;
    const external = typeof o.lock === "object" ? o.lock : undefined;
    const b = block ?? createBlock(kind, [TYPES.indexOf(type), length, own ? 1 : 0], length * SIZES[type], external?.$shared);
    this.$shared = b.handle;
    this.type = TYPES[b.words[2]!] as T;
    if (this.type === undefined || !Number.isInteger(b.words[3]) || b.words[3]! < 1 || b.words[3]! > MAX_LENGTH || DATA_OFFSET + b.words[3]! * SIZES[this.type] > b.segment.size) {
      throw new RangeError("the shared value's segment does not match its shape");
    }
    this.#view = new CTORS[this.type](b.segment.buffer.buffer as ArrayBuffer, b.segment.buffer.byteOffset + DATA_OFFSET, b.words[3]!) as View<T>;
    if (b.words[4] === 1) this.#lock = new RLock({ ...b, handle: b.handle });
    else if (b.handle.lock) this.#lock = external ?? openLock({ $shared: b.handle.lock });
  }

  /** The elements in shared memory: plain reads and writes, or `Atomics.*` on the integer types. */
  get raw(): View<T> {
    return this.#view;
  }
  /** The lock that guards read-modify-write; throws for `lock: false`, as RawValue has none. */
  getLock(): Lock | RLock {
    if (!this.#lock) throw new TypeError("this shared value was made with lock: false: it has no lock");
    return this.#lock;
  }
  close(): void {
    this.#lock?.close();
  }
}

/** multiprocessing.Value: one typed element in shared memory. `value` is a plain read or write; `v.value += 1` needs `getLock()`. */
export class Value<T extends ValueType = "i32"> extends TypedShared<T> {
  constructor(type: T, initial?: Element<T>, o: ValueOptions = {}, block?: Block) {
    if (!block && !TYPES.includes(type)) throw new TypeError(`value type must be one of ${TYPES.join(", ")}; got ${String(type)}`);
    super("value", type, 1, o, block);
    if (!block && initial !== undefined) this.value = initial;
  }
  static from<T extends ValueType = ValueType>(value: unknown): Value<T> {
    return value instanceof Value ? (value as Value<T>) : new Value<T>(undefined as unknown as T, undefined, {}, openBlock(value, "value"));
  }
  get value(): Element<T> {
    return this.raw[0] as Element<T>;
  }
  set value(v: Element<T>) {
    (this.raw as unknown as Element<T>[])[0] = v;
  }
}

/** multiprocessing.Array: a fixed-length typed array in shared memory (`raw` is the view). */
export class SharedArray<T extends ValueType = "i32"> extends TypedShared<T> {
  constructor(type: T, lengthOrValues: number | ArrayLike<Element<T>>, o: ValueOptions = {}, block?: Block) {
    const length = typeof lengthOrValues === "number" ? lengthOrValues : lengthOrValues.length;
    if (!block && !TYPES.includes(type)) throw new TypeError(`array type must be one of ${TYPES.join(", ")}; got ${String(type)}`);
    if (!block && (!Number.isInteger(length) || length < 1 || length > MAX_LENGTH)) throw new RangeError(`array length must be an integer from 1 to 2^26; got ${length}`);
    super("array", type, length, o, block);
    if (!block && typeof lengthOrValues !== "number") (this.raw as unknown as { set(a: ArrayLike<unknown>): void }).set(lengthOrValues);
  }
  static from<T extends ValueType = ValueType>(value: unknown): SharedArray<T> {
    return value instanceof SharedArray ? (value as SharedArray<T>) : new SharedArray<T>(undefined as unknown as T, 1, {}, openBlock(value, "array"));
  }
  get length(): number {
    return this.raw.length;
  }
  get(i: number): Element<T> {
    if (!(Number.isInteger(i) && i >= 0 && i < this.raw.length)) throw new RangeError(`index must be an integer from 0 to ${this.raw.length - 1}; got ${i}`);
    return this.raw[i] as Element<T>;
  }
  set(i: number, v: Element<T>): void {
    if (!(Number.isInteger(i) && i >= 0 && i < this.raw.length)) throw new RangeError(`index must be an integer from 0 to ${this.raw.length - 1}; got ${i}`);
    (this.raw as unknown as Element<T>[])[i] = v;
  }
  toArray(): Element<T>[] {
    return Array.from(this.raw as unknown as ArrayLike<Element<T>>);
  }
}

