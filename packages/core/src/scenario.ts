import { checksum32, checksumWords, mixWord } from "./checksum.js";

/**
 * The scenario message: a 32-byte little-endian header, then the payload.
 *
 *   0  u32  producer id
 *   4  u32  payload length
 *   8  f64  sequence number (0, 1, 2, … per producer)
 *  16  f64  send time, CLOCK_MONOTONIC nanoseconds (process.hrtime.bigint)
 *  24  u32  checksum32 of the payload
 *  28  u32  value the consumer sums (1 … 100, from the sequence number)
 *  32  …    payload
 *
 * CLOCK_MONOTONIC is one clock for every process on a machine, so send and
 * receive times from different processes subtract to a one-way latency.
 */
export const SCENARIO_HEADER_BYTES = 32;

export function scenarioValue(seq: number): number {
  return (seq % 100) + 1;
}

/** The total a consumer must reach: every producer's values summed. */
export function expectedTotal(producers: number, messagesPerProducer: number): number {
  const full = Math.floor(messagesPerProducer / 100);
  const rest = messagesPerProducer % 100;
  const perProducer = full * 5050 + (rest * (rest + 1)) / 2;
  return perProducer * producers;
}

// performance.now() reads the same CLOCK_MONOTONIC as process.hrtime, from a
// per-process origin, without allocating a BigInt: calibrate the origin once.
// A process preempted between the two reads would carry the delay into every
// timestamp (a loaded machine showed one-way latencies of -56 ms), so the
// origin comes from the tightest of a few hrtime/now/hrtime brackets.
function calibrate(): number {
  let best = Infinity;
  let origin = 0;
  for (let i = 0; i < 8; i++) {
    const before = process.hrtime.bigint();
    const now = performance.now();
    const gap = Number(process.hrtime.bigint() - before);
    if (gap < best) {
      best = gap;
      origin = Number(before) + gap / 2 - now * 1e6;
    }
  }
  return origin;
}
const originNs = calibrate();

/** CLOCK_MONOTONIC in nanoseconds (as a double: exact to well under 1 µs). */
export function monotonicNs(): number {
  return originNs + performance.now() * 1e6;
}

/**
 * Encodes a producer's messages into one reused buffer: no allocation per
 * message. The payload is a fixed pseudo-random pattern whose first two
 * words carry the sequence number, so every message differs and the
 * checksum is updated from a precomputed remainder, not recomputed.
 */
export class ScenarioEncoder {
  readonly size: number;
  readonly message: Uint8Array;
  private readonly view: DataView;
  private readonly payloadLength: number;
  private readonly restSum: number;

  constructor(readonly producerId: number, size: number) {
    if (!Number.isInteger(size) || size < SCENARIO_HEADER_BYTES) {
      throw new RangeError(`scenario messages are at least ${SCENARIO_HEADER_BYTES} bytes (header); got ${size}`);
    }
    this.size = size;
    this.message = new Uint8Array(size);
    this.view = new DataView(this.message.buffer);
    this.payloadLength = size - SCENARIO_HEADER_BYTES;
    let x = (producerId + 1) * 0x2545f491;
    for (let i = SCENARIO_HEADER_BYTES; i < size; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      this.message[i] = x & 0xff;
    }
    this.view.setUint32(0, producerId, true);
    this.view.setUint32(4, this.payloadLength, true);
    this.restSum = this.payloadLength > 8 ? checksumWords(this.message, SCENARIO_HEADER_BYTES, this.payloadLength, 2) : 0;
  }

  /** Fills the message for `seq` and returns it (the same buffer every time). */
  encode(seq: number, sendTimeNs = monotonicNs()): Uint8Array {
    const v = this.view;
    v.setFloat64(8, seq, true);
    v.setFloat64(16, sendTimeNs, true);
    v.setUint32(28, scenarioValue(seq), true);
    const n = this.payloadLength;
    let sum: number;
    if (n >= 8) {
      const w0 = (seq >>> 0) ^ 0x5bd1e995;
      const w1 = (this.producerId ^ Math.floor(seq / 0x100000000)) >>> 0;
      v.setUint32(SCENARIO_HEADER_BYTES, w0, true);
      v.setUint32(SCENARIO_HEADER_BYTES + 4, w1, true);
      sum = (((mixWord(w0 | 0, 0) + mixWord(w1 | 0, 1)) | 0) + this.restSum + n) >>> 0;
    } else {
      for (let i = 0; i < n; i++) this.message[SCENARIO_HEADER_BYTES + i] = (seq + i) & 0xff;
      sum = checksum32(this.message, SCENARIO_HEADER_BYTES, n);
    }
    v.setUint32(24, sum, true);
    return this.message;
  }
}

export interface ScenarioProblem {
  kind: "size" | "producer" | "gap" | "duplicate" | "reorder" | "checksum" | "length" | "missing" | "total";
  producer?: number;
  detail: string;
}

export interface ScenarioReport {
  ok: boolean;
  received: number;
  expected: number;
  total: number;
  expectedTotal: number;
  latencyP50Us: number;
  latencyP99Us: number;
  problems: ScenarioProblem[];
}

const MAX_PROBLEMS = 20;
const MAX_SAMPLES = 1 << 20;

/**
 * Checks every received message: size, producer id, per-producer order with
 * no gap or duplicate, checksum, and sums the values. Keeps latency samples
 * (all of them up to 1 Mi, then every k-th). Allocates nothing per message.
 */
export class ScenarioVerifier {
  private readonly next: Float64Array;
  private readonly samples: Float64Array;
  private readonly stride: number;
  private sampleCount = 0;
  private seen = 0;
  received = 0;
  total = 0;
  readonly problems: ScenarioProblem[] = [];
  private problemCount = 0;
  private lastData: Uint8Array | undefined;
  private view: DataView = new DataView(new ArrayBuffer(8));

  constructor(readonly producers: number, readonly messagesPerProducer: number, readonly size: number) {
    this.next = new Float64Array(producers);
    const expected = producers * messagesPerProducer;
    this.stride = Math.max(1, Math.ceil(expected / MAX_SAMPLES));
    this.samples = new Float64Array(Math.min(MAX_SAMPLES, Math.max(1, expected)));
  }

  private problem(p: ScenarioProblem): void {
    this.problemCount++;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(p);
  }

  /** Verifies one message at `data[offset, offset+length)`, received at `nowNs`. */
  verify(data: Uint8Array, offset: number, length: number, nowNs: number): boolean {
    this.received++;
    if (length !== this.size) {
      this.problem({ kind: "size", detail: `message ${this.received} is ${length} bytes, expected ${this.size}` });
      return false;
    }
    if (data !== this.lastData) {
      // One view per batch buffer, not per message.
      this.lastData = data;
      this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    }
    const v = this.view;
    const producer = v.getUint32(offset, true);
    if (producer >= this.producers) {
      this.problem({ kind: "producer", detail: `unknown producer id ${producer}` });
      return false;
    }
    const payloadLength = v.getUint32(offset + 4, true);
    if (payloadLength !== length - SCENARIO_HEADER_BYTES) {
      this.problem({ kind: "length", producer, detail: `header says ${payloadLength} payload bytes, message has ${length - SCENARIO_HEADER_BYTES}` });
      return false;
    }
    const seq = v.getFloat64(offset + 8, true);
    const expectedSeq = this.next[producer]!;
    if (seq !== expectedSeq) {
      const kind = seq < expectedSeq ? (seq === expectedSeq - 1 ? "duplicate" : "reorder") : "gap";
      this.problem({ kind, producer, detail: `producer ${producer}: got sequence ${seq}, expected ${expectedSeq}` });
      if (seq > expectedSeq) this.next[producer] = seq + 1;
      return false;
    }
    this.next[producer] = seq + 1;
    const sum = checksum32(data, offset + SCENARIO_HEADER_BYTES, payloadLength);
    if (sum !== v.getUint32(offset + 24, true)) {
      this.problem({ kind: "checksum", producer, detail: `producer ${producer} sequence ${seq}: checksum mismatch` });
      return false;
    }
    this.total += v.getUint32(offset + 28, true);
    if (this.seen++ % this.stride === 0 && this.sampleCount < this.samples.length) {
      this.samples[this.sampleCount++] = nowNs - v.getFloat64(offset + 16, true);
    }
    return true;
  }

  report(): ScenarioReport {
    const expected = this.producers * this.messagesPerProducer;
    for (let p = 0; p < this.producers; p++) {
      if (this.next[p]! < this.messagesPerProducer) {
        this.problem({ kind: "missing", producer: p, detail: `producer ${p}: ${this.messagesPerProducer - this.next[p]!} messages never arrived` });
      }
    }
    const want = expectedTotal(this.producers, this.messagesPerProducer);
    if (this.total !== want) this.problem({ kind: "total", detail: `total ${this.total}, expected ${want}` });
    const s = this.samples.subarray(0, this.sampleCount).slice().sort();
    const pct = (q: number) => (s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))]! / 1000);
    return {
      ok: this.problemCount === 0 && this.received === expected,
      received: this.received,
      expected,
      total: this.total,
      expectedTotal: want,
      latencyP50Us: pct(0.5),
      latencyP99Us: pct(0.99),
      problems: this.problems,
    };
  }
}
