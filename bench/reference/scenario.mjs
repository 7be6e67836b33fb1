// The scenario message format, checksum, encoder and verifier in plain
// JavaScript, so the references run without a build step. Byte-for-byte the
// same as packages/core/src/scenario.ts and checksum.ts (the reference test
// checks that).

export const HEADER_BYTES = 32;

export function mixWord(word, index) {
  return Math.imul((word ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0, 0x85ebca77);
}

/** Sum of mixWord over words [fromWord, ceil(length/4)) at `base`; a trailing partial word is zero-padded. */
export function checksumWords(bytes, base, length, fromWord = 0) {
  const toWord = Math.ceil(length / 4);
  const whole = Math.min(toWord, length >>> 2);
  let sum = 0;
  let i = fromWord;
  let p = base + (i << 2);
  for (; i < whole; i++, p += 4) {
    const w = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24);
    sum = (sum + mixWord(w, i)) | 0;
  }
  if (i < toWord && (length & 3) !== 0) {
    let w = 0;
    for (let k = 0; k < (length & 3); k++) w |= bytes[p + k] << (8 * k);
    sum = (sum + mixWord(w, i)) | 0;
  }
  return sum;
}

export function checksum32(bytes, offset = 0, length = bytes.length - offset) {
  return (checksumWords(bytes, offset, length) + length) >>> 0;
}

export function expectedTotal(producers, messages) {
  const full = Math.floor(messages / 100);
  const rest = messages % 100;
  return (full * 5050 + (rest * (rest + 1)) / 2) * producers;
}

export function monotonicNs() {
  return Number(process.hrtime.bigint());
}

/** One producer's messages, encoded into one reused buffer (as ScenarioEncoder does). */
export class Encoder {
  constructor(producerId, size) {
    if (!Number.isInteger(size) || size < HEADER_BYTES) throw new RangeError(`size must be at least ${HEADER_BYTES}`);
    this.producerId = producerId;
    this.size = size;
    this.payloadLength = size - HEADER_BYTES;
    this.message = Buffer.alloc(size);
    this.view = new DataView(this.message.buffer, this.message.byteOffset, size);
    let x = (producerId + 1) * 0x2545f491;
    for (let i = HEADER_BYTES; i < size; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      this.message[i] = x & 0xff;
    }
    this.view.setUint32(0, producerId, true);
    this.view.setUint32(4, this.payloadLength, true);
    this.restSum = this.payloadLength > 8 ? checksumWords(this.message, HEADER_BYTES, this.payloadLength, 2) : 0;
  }

  /** Fills the message for `seq` and returns it (the same buffer every time). */
  encode(seq, sendTimeNs = monotonicNs()) {
    const v = this.view;
    v.setFloat64(8, seq, true);
    v.setFloat64(16, sendTimeNs, true);
    v.setUint32(28, (seq % 100) + 1, true);
    const n = this.payloadLength;
    let sum;
    if (n >= 8) {
      const w0 = (seq >>> 0) ^ 0x5bd1e995;
      const w1 = (this.producerId ^ Math.floor(seq / 0x100000000)) >>> 0;
      v.setUint32(HEADER_BYTES, w0, true);
      v.setUint32(HEADER_BYTES + 4, w1, true);
      sum = (((mixWord(w0 | 0, 0) + mixWord(w1 | 0, 1)) | 0) + this.restSum + n) >>> 0;
    } else {
      for (let i = 0; i < n; i++) this.message[HEADER_BYTES + i] = (seq + i) & 0xff;
      sum = checksum32(this.message, HEADER_BYTES, n);
    }
    v.setUint32(24, sum, true);
    return this.message;
  }
}

const MAX_SAMPLES = 1 << 20;

/**
 * The consumer's checks: per-producer order with no gap or duplicate, every
 * checksum, the sum of values, latency samples (every message up to 1 Mi,
 * then every k-th). `check` takes the header fields and the payload bytes,
 * so it serves both a binary message and one carried as a JSON object.
 */
export class Verifier {
  constructor(producers, messages, size) {
    this.producers = producers;
    this.messages = messages;
    this.size = size;
    this.expected = producers * messages;
    this.next = new Float64Array(producers);
    this.stride = Math.max(1, Math.ceil(this.expected / MAX_SAMPLES));
    this.samples = new Float64Array(Math.min(MAX_SAMPLES, Math.max(1, this.expected)));
    this.sampleCount = 0;
    this.seen = 0;
    this.received = 0;
    this.total = 0;
    this.problems = [];
    this.problemCount = 0;
  }

  problem(detail) {
    this.problemCount++;
    if (this.problems.length < 5) this.problems.push(detail);
    return false;
  }

  /** Header fields + payload bytes (payload[pOff, pOff+pLen)). */
  check(producer, payloadLength, seq, sendTime, sum, value, payload, pOff, pLen, nowNs) {
    this.received++;
    if (pLen + HEADER_BYTES !== this.size) return this.problem(`size: message ${this.received} is ${pLen + HEADER_BYTES} bytes, expected ${this.size}`);
    if (!(producer >= 0 && producer < this.producers)) return this.problem(`producer: unknown producer id ${producer}`);
    if (payloadLength !== pLen) return this.problem(`length: producer ${producer}: header says ${payloadLength} payload bytes, message has ${pLen}`);
    const want = this.next[producer];
    if (seq !== want) {
      const kind = seq < want ? (seq === want - 1 ? "duplicate" : "reorder") : "gap";
      if (seq > want) this.next[producer] = seq + 1;
      return this.problem(`${kind}: producer ${producer} got sequence ${seq}, expected ${want}`);
    }
    this.next[producer] = seq + 1;
    if (checksum32(payload, pOff, pLen) !== sum) return this.problem(`checksum: producer ${producer} sequence ${seq}: checksum mismatch`);
    this.total += value;
    if (this.seen++ % this.stride === 0 && this.sampleCount < this.samples.length) {
      this.samples[this.sampleCount++] = nowNs - sendTime;
    }
    return true;
  }

  /** A whole binary scenario message. */
  checkBytes(bytes, nowNs) {
    if (bytes.length < HEADER_BYTES) {
      this.received++;
      return this.problem(`size: message ${this.received} is ${bytes.length} bytes, expected ${this.size}`);
    }
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    return this.check(
      v.getUint32(0, true), v.getUint32(4, true), v.getFloat64(8, true), v.getFloat64(16, true),
      v.getUint32(24, true), v.getUint32(28, true), bytes, HEADER_BYTES, bytes.length - HEADER_BYTES, nowNs,
    );
  }

  report() {
    for (let p = 0; p < this.producers; p++) {
      if (this.next[p] < this.messages) this.problem(`missing: producer ${p}: ${this.messages - this.next[p]} messages never arrived`);
    }
    const want = expectedTotal(this.producers, this.messages);
    if (this.total !== want) this.problem(`total: ${this.total}, expected ${want}`);
    const s = this.samples.subarray(0, this.sampleCount).slice().sort();
    const pct = (q) => (s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))] / 1000);
    return {
      ok: this.problemCount === 0 && this.received === this.expected,
      received: this.received,
      total: this.total,
      latencyP50Us: pct(0.5),
      latencyP99Us: pct(0.99),
      error: this.problems.length ? `${this.problems.join("; ")} (${this.problemCount} problems)` : undefined,
    };
  }
}

/**
 * The consumer's JSON record of a finished run (the shape every reference
 * prints): `done` holds each producer's {cpuMs, maxRssBytes} (or null).
 */
export function consumerRecord(head, verifier, o, t0, tEnd, done) {
  const r = verifier.report();
  const elapsedMs = (tEnd - t0) / 1e6;
  const n = o.producers * o.messages;
  const cpu = process.cpuUsage();
  return {
    ...head,
    elapsedMs: +elapsedMs.toFixed(3),
    msgsPerSec: Math.round(n / (elapsedMs / 1e3)),
    mbPerSec: +((n * o.size) / 1e6 / (elapsedMs / 1e3)).toFixed(2),
    latencyP50Us: +r.latencyP50Us.toFixed(2),
    latencyP99Us: +r.latencyP99Us.toFixed(2),
    total: r.total,
    ok: r.ok,
    ...(r.ok ? {} : { error: r.error }),
    cpuMs: {
      consumer: +((cpu.user + cpu.system) / 1000).toFixed(1),
      producers: +done.reduce((a, d) => a + (d ? d.cpuMs : 0), 0).toFixed(1),
    },
    peakRssBytes: {
      consumer: process.resourceUsage().maxRSS * 1024,
      producers: done.reduce((a, d) => Math.max(a, d ? d.maxRssBytes : 0), 0),
    },
  };
}

/**
 * The entry point every Node reference shares: parse argv (exit 2 with the
 * usage line on a bad one), then run as a producer child (`--child N`) or as
 * the consumer.
 */
export function referenceMain(name, usage, parseArgs, producer, consumer) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${name}: ${err.message}\nusage: ${usage}\n`);
    process.exit(2);
  }
  if (opts.child >= 0) {
    producer(opts).catch((err) => {
      process.stderr.write(`producer ${opts.child}: ${err.stack || err}\n`);
      process.exit(3);
    });
  } else {
    consumer(opts);
  }
}
