// Helpers for transports' fixture processes (plain Node, no test runner):
// imported as `@ipc-sampler/core/fixtures`.
import { checksum32 } from "../checksum.js";

/** A fixture's command line, `node <script> <mode> <json args>`: the mode and the parsed arguments. */
export function fixtureArgs(): { mode: string; args: any } {
  const [mode = "", json = "{}"] = process.argv.slice(2);
  return { mode, args: JSON.parse(json) };
}

/** A seeded xorshift32 generator of numbers in [0, 1): the same sizes and bytes on every run. */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/**
 * Fills `buf` with a checkable message of `len` bytes and returns it:
 * [u32 id][u32 seq][u32 checksum32 of the rest][random bytes], or, under 12
 * bytes, the pattern (seq + i) & 0xff.
 */
export function fillCheckedMessage(buf: Uint8Array, len: number, id: number, seq: number, rand: () => number): Uint8Array {
  if (len < 12) {
    // Too short for the header: a pattern that still carries the sequence.
    for (let i = 0; i < len; i++) buf[i] = (seq + i) & 0xff;
    return buf.subarray(0, len);
  }
  const v = new DataView(buf.buffer, buf.byteOffset, len);
  for (let i = 12; i < len; i += 97) buf[i] = (rand() * 256) | 0;
  v.setUint32(0, id, true);
  v.setUint32(4, seq, true);
  v.setUint32(8, checksum32(buf, 12, len - 12), true);
  return buf.subarray(0, len);
}

/** A sender as fixtures use it: `write`/`drain`, and `reserve`/`commit` where the transport has them. */
interface FixtureSender {
  write(message: Uint8Array): boolean;
  drain(): Promise<void>;
  reserve?(length: number): Uint8Array | undefined;
  commit?(length: number): void;
}

/**
 * Sends one `fillCheckedMessage` message of `len` bytes: built in `buf` and
 * written, or (`inPlace`) built in the channel's memory through
 * reserve/commit (a little more reserved than used). Returns a promise only
 * when the sender must be drained first; await it then.
 */
export function sendCheckedMessage(sender: FixtureSender, buf: Uint8Array, len: number, id: number, seq: number, rand: () => number, inPlace = false): Promise<void> | undefined {
  if (!inPlace) return sender.write(fillCheckedMessage(buf, len, id, seq, rand)) ? undefined : sender.drain();
  return (async () => {
    let view: Uint8Array | undefined;
    while (!(view = sender.reserve!(len + 5))) await sender.drain();
    fillCheckedMessage(view, len, id, seq, rand);
    sender.commit!(len);
  })();
}

/**
 * Checks messages made by `fillCheckedMessage`: per-producer order (from 0),
 * sizes 1..65536 and checksums. Collects what is wrong in `bad` and throws
 * once more than ten things are.
 */
export class CheckedMessageVerifier {
  next: number[] = [];
  count = 0;
  bad: string[] = [];

  check(p: number, data: Uint8Array, off: number, len: number): void {
    const want = this.next[p] ?? 0;
    this.next[p] = want + 1;
    this.count++;
    if (len < 1 || len > 65536) this.bad.push(`size ${len}`);
    if (len < 12) {
      for (let k = 0; k < len; k++) if (data[off + k] !== ((want + k) & 0xff)) this.bad.push(`producer ${p} seq ${want}: short message bytes`);
    } else {
      const v = new DataView(data.buffer, data.byteOffset + off, len);
      if (v.getUint32(4, true) !== want) this.bad.push(`producer ${p}: seq ${v.getUint32(4, true)}, expected ${want}`);
      if (v.getUint32(8, true) !== checksum32(data, off + 12, len - 12)) this.bad.push(`producer ${p} seq ${want}: checksum`);
    }
    if (this.bad.length > 10) throw new Error(this.bad.join("; "));
  }

  verify(b: { count: number; data: Uint8Array; offsets: Int32Array; producer: number }): void {
    for (let i = 0; i < b.count; i++) this.check(b.producer, b.data, b.offsets[2 * i]!, b.offsets[2 * i + 1]!);
  }
}

/** A fixture's consumer: listens for one producer (a lost one is ignored), prints `{ address }`, reads every batch, closes. */
export async function runConsumer(transport: { listen(options: Record<string, unknown>): Promise<{ address: unknown; batches(): AsyncIterable<unknown>; close(): Promise<void> }> }): Promise<void> {
  const r = await transport.listen({ expectedProducers: 1, onPeerLost: () => {} });
  process.stdout.write(`${JSON.stringify({ address: r.address })}\n`);
  for await (const _ of r.batches());
  await r.close();
}

export interface ThroughputBench {
  /** The transport id printed in the result line. */
  name: string;
  transport: {
    listen(options: Record<string, unknown>): Promise<{ address: unknown; batches(): AsyncIterable<{ count: number; data: Uint8Array; offsets: Int32Array }>; close(): Promise<void> }>;
    connect(address: never): Promise<{ write(m: Uint8Array): boolean; drain(): Promise<void>; close(): Promise<void> }>;
  };
  /** Listen options for messages of `size` bytes. */
  listenOptions(size: number): Record<string, unknown>;
  /** Messages to send when the command line names no count. */
  defaultCount(size: number): number;
}

/**
 * Throughput of one producer process into one consumer process: the
 * producer writes `count` messages of `size` bytes with write()/drain(); the
 * consumer reads batches and touches the first byte of each message. Run as
 * `node <script> [size=64] [count]`; the script starts itself again as the
 * producer. Prints one JSON line. PROFILE=<dir> profiles the producer.
 */
export async function runThroughputBench(script: string, bench: ThroughputBench): Promise<void> {
  const { spawn } = await import("node:child_process");
  if (process.argv[2] === "producer") {
    const [, , , addr, sizeS, countS] = process.argv;
    const sender = await bench.transport.connect(JSON.parse(addr!) as never);
    const size = Number(sizeS);
    const count = Number(countS);
    const msg = new Uint8Array(size).fill(7);
    for (let i = 0; i < count; i++) {
      if (!sender.write(msg)) await sender.drain();
    }
    await sender.close();
    return;
  }
  const size = Number(process.argv[2] ?? 64);
  const count = Number(process.argv[3] ?? bench.defaultCount(size));
  const r = await bench.transport.listen({ expectedProducers: 1, ...bench.listenOptions(size) });
  const profile = process.env.PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, script, "producer", JSON.stringify(r.address), String(size), String(count)], { stdio: "inherit" });
  const kill = setTimeout(() => child.kill("SIGKILL"), 120_000);
  let n = 0;
  let bytes = 0;
  let sink = 0;
  let t0 = 0;
  for await (const b of r.batches()) {
    if (t0 === 0) t0 = performance.now();
    for (let i = 0; i < b.count; i++) {
      sink += b.data[b.offsets[2 * i]!]!;
      bytes += b.offsets[2 * i + 1]!;
    }
    n += b.count;
  }
  const ms = performance.now() - t0;
  clearTimeout(kill);
  await r.close();
  console.log(JSON.stringify({ transport: bench.name, size, count: n, ok: n === count, ms: +ms.toFixed(1), msgPerSec: Math.round((n / ms) * 1000), MBps: Math.round(bytes / ms / 1000), sink: sink > 0 }));
}
