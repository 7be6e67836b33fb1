// The numbered, checksummed messages of the fault-injection runs:
//   u32 producer id | u32 sequence | u32 total length | u32 checksum | payload
// (little-endian). The checksum is FNV-1a over everything but its own field,
// so a torn, spliced or shifted message fails it.
export const HEADER = 16;

export function fnv(b, from, to, h = 0x811c9dc5) {
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i], 0x01000193) >>> 0;
  return h;
}

export function encode(producer, seq, length) {
  const b = Buffer.alloc(Math.max(HEADER, length));
  b.writeUInt32LE(producer, 0);
  b.writeUInt32LE(seq, 4);
  b.writeUInt32LE(b.length, 8);
  for (let i = HEADER; i < b.length; i++) b[i] = (seq * 31 + i * 7 + producer) & 255;
  b.writeUInt32LE(fnv(b, HEADER, b.length, fnv(b, 0, 12)), 12);
  return b;
}

/** Checks one delivered message against `next` (the expected sequence per producer); returns a problem or undefined. */
export function check(m, producers, next) {
  if (m.length < HEADER) return `a message of ${m.length} bytes (torn: shorter than the header)`;
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  const producer = dv.getUint32(0, true);
  const seq = dv.getUint32(4, true);
  const length = dv.getUint32(8, true);
  if (length !== m.length) return `torn: header says ${length} bytes, delivered ${m.length}`;
  if (dv.getUint32(12, true) !== fnv(m, HEADER, m.length, fnv(m, 0, 12))) return `torn: checksum mismatch (producer ${producer}, seq ${seq})`;
  if (producer >= producers) return `unknown producer ${producer}`;
  if (seq < next[producer]) return `duplicate or reordered: producer ${producer} seq ${seq} after ${next[producer] - 1}`;
  if (seq > next[producer]) return `lost or reordered: producer ${producer} seq ${seq}, expected ${next[producer]}`;
  next[producer] = seq + 1;
  return undefined;
}
