// Fuzzing the receivers: for each transport a receiver runs in its own
// process (receiver.mjs) while this process acts as a hostile peer, sending
// random and mutated frames, packets, ring frames or journal records for a
// while. Then a well-behaved producer (another process) sends GOOD_COUNT
// messages. A transport passes when the receiver is still up, answers, got
// every good message and none over maxMessageSize, reported only ChannelError
// codes, stayed under RSS_BOUND, ended every producer it counted, and uses no
// CPU while idle afterwards.
//
//   node tests/fuzz/fuzz.mjs [--seconds N] [--transports a,b] [--seed N]
//   (default: 30 s per transport; CI=true: 2 s; FUZZ_SECONDS overrides)
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { closeSync, constants, openSync, readFileSync, writeSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = (pkg) => pathToFileURL(path.join(ROOT, "packages", pkg, "dist/index.js")).href;
const RECEIVER = fileURLToPath(new URL("./receiver.mjs", import.meta.url));
export const RSS_BOUND = 512 * 1024 * 1024;
const GOOD_COUNT = 200;
const CODES = new Set(["EMSGSIZE", "EPEERGONE", "ECLOSED", "EEXIST", "ENOENT", "EINVALIDNAME", "ETIMEDOUT", "EPROTO", "EACCES", "EPERM", "EBUSY", "ELIMIT", "EUNSUPPORTED", "ESYSCALL"]);

function rng(seed) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (a) => a[int(a.length)];
  /** A length field: mostly plausible, often a boundary. */
  const length = (max) => pick([0, 1, max, max + 1, 0xffffffff, 0x7fffffff, 0x80000000, -1 >>> 0, int(max + 16), int(64), int(0x100000000)]);
  const bytes = (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  /** Flips a few bytes of `b` in place. */
  const mutate = (b) => {
    const flips = int(4);
    for (let i = 0; i < flips && b.length > 0; i++) b[int(b.length)] = int(256);
    return b;
  };
  return { next, int, pick, length, bytes, mutate };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const frame = (r, max) => {
  const body = r.bytes(r.int(32));
  const b = Buffer.alloc(4 + body.length);
  b.writeUInt32LE(r.next() < 0.5 ? body.length : r.length(max), 0);
  body.copy(b, 4);
  return b;
};

// ---- hostile peers, one round each ------------------------------------------

function mac(label, nonce) {
  return createHmac("sha256", "").update(label).update(nonce).digest();
}

/** uds/tcp: a raw connection that answers the handshake (or not), then writes mutated frames. */
async function streamRound(r, address) {
  const target = address.path ? { path: address.path } : { host: address.host, port: address.port };
  const s = net.connect(target);
  s.on("error", () => {});
  s.on("data", (d) => {
    if (d.length >= 40 && d.readUInt32LE(0) === 0x53435049 && r.next() < 0.8) s.write(Buffer.concat([r.next() < 0.9 ? mac("ipcs-sender", d.subarray(8, 40)) : r.bytes(32), randomBytes(32)]));
  });
  await new Promise((res) => s.once("connect", res).once("error", res));
  await sleep(r.int(20));
  const n = r.int(20);
  for (let i = 0; i < n && !s.destroyed; i++) s.write(r.next() < 0.1 ? r.bytes(r.int(64)) : r.mutate(frame(r, address.maxMessageSize)));
  if (r.next() < 0.5) s.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  await sleep(r.int(30));
  s.destroy();
}

/** A packet (FIFO and message queue): pid, stream, header word, body. */
function packet(r, own, streamBytes) {
  const kind = r.int(7);
  // Lengths up to 16 MiB too: a first fragment that announces a large message (pooled with reuseBatches).
  const body = r.next() < 0.5 ? frame(r, r.next() < 0.3 ? 16 << 20 : 4096) : r.bytes(r.int(64));
  const b = Buffer.alloc(8 + body.length);
  b.writeUInt32LE(r.pick([own, own, own, 0, 0x80000000, 0xffffffff, r.int(0x100000000)]), 0);
  b.writeUInt16LE(r.int(4), 4);
  b.writeUInt16LE(streamBytes ? (kind << 12) | (r.next() < 0.7 ? body.length : r.int(0x1000)) : kind, 6);
  body.copy(b, 8);
  return r.mutate(b);
}

async function fifoRound(r, address) {
  const fd = openSync(address.path, constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    const n = r.int(50);
    for (let i = 0; i < n; i++) {
      try {
        writeSync(fd, packet(r, process.pid, true).subarray(0, 4096));
      } catch {
        await sleep(5); // full
      }
    }
  } finally {
    closeSync(fd);
  }
  await sleep(r.int(10));
}

async function mqueueRound(r, address, posix) {
  const q = posix.mqOpen(address.name, { access: "write" });
  try {
    const n = r.int(50);
    for (let i = 0; i < n; i++) {
      const p = packet(r, process.pid, false);
      if (!posix.mqSend(q.mqd, p.subarray(0, Math.min(p.length, address.messageSize)))) await sleep(5);
    }
  } finally {
    posix.mqClose(q.mqd);
  }
  await sleep(r.int(10));
}

/** shm: attach properly (a slot), then write random frames into that ring and move its tail at random. */
async function shmRound(r, address, transport, posix) {
  const sender = await transport.connect(address);
  const seg = posix.openSegment(address.name);
  const w = new Int32Array(seg.buffer.buffer, seg.buffer.byteOffset, seg.buffer.length >>> 2);
  let slot = -1;
  for (let s = 0; s < address.slots; s++) if (w[1024 + s * 64 + 1] === process.pid && w[1024 + s * 64] === 2) slot = s;
  if (slot >= 0) {
    const ring = address.ringsOffset + slot * address.ringBytes;
    const n = 1 + r.int(8);
    for (let i = 0; i < n; i++) {
      const tail = w[1024 + slot * 64 + 16] >>> 0;
      const at = (ring + ((tail & (address.ringBytes - 1)) & ~7)) >>> 2;
      w[at] = r.next() < 0.3 ? -1 : r.length(address.maxMessageSize);
      Atomics.store(w, 1024 + slot * 64 + 16, (tail + r.pick([8, 16, 24, r.int(4096), r.int(0x100000000)])) | 0);
      posix.ringDoorbell(w, 16, 32);
      await sleep(r.int(5));
    }
  }
  seg.close();
  await sender.close().catch(() => {});
}

/** mmap: attach properly (a stream), then commit random records by hand. */
async function mmapRound(r, address, transport, posix) {
  const sender = await transport.connect(address);
  for (let i = 0; i < r.int(5); i++) sender.write(r.bytes(r.int(100)));
  sender.flush();
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) {
    const w = sender.words;
    const at = sender.off >>> 2;
    if (at + 6 >= w.length) break;
    w[at + 1] = r.length(address.maxMessageSize);
    w[at + 5] = r.pick([1, 1, 2, 3, r.int(256)]);
    Atomics.store(w, at, r.next() < 0.9 ? (0x544d4f43 ^ (sender.index & 0x3fffffff)) | 0 : r.int(0x100000000) | 0);
    posix.ringDoorbell(sender.ctlWords, 16, 32);
    await sleep(r.int(5));
  }
  await sleep(r.int(10));
  await sender.close().catch(() => {});
}

/** The write end of a new pipe into the receiver, opened through /proc (as a child would inherit it); null once the receiver refuses. */
async function admitPipe(recv) {
  recv.child.stdin.write("admit\n");
  const msg = await recv.line();
  if (!msg?.admitted) return null;
  try {
    return { fd: openSync(`/proc/${recv.child.pid}/fd/${msg.admitted.fd}`, constants.O_WRONLY | constants.O_NONBLOCK), address: msg.admitted.address };
  } finally {
    recv.child.stdin.write("release\n");
  }
}

/** pipe: one pipe per round, written with mutated frames, junk, goodbyes, and large frames cut short. */
async function pipeRound(r, address, recv) {
  const pipe = await admitPipe(recv);
  if (!pipe) return;
  try {
    const n = r.int(30);
    for (let i = 0; i < n; i++) {
      let b;
      const kind = r.int(10);
      if (kind === 0) b = r.bytes(r.int(64));
      else if (kind === 1) b = Buffer.from([0xff, 0xff, 0xff, 0xff]);
      else if (kind === 2) {
        // A large frame (read in place, in a buffer of its own): announced whole, sent in part or whole.
        const len = r.pick([65536, 65537, 300_000, address.maxMessageSize, address.maxMessageSize + 1]);
        b = Buffer.alloc(4 + Math.min(len, r.pick([0, 100, 70_000, len])));
        b.writeUInt32LE(len >>> 0, 0);
      } else b = r.mutate(frame(r, address.maxMessageSize));
      try {
        writeSync(pipe.fd, b);
      } catch {
        await sleep(2); // full, or the receiver closed its end
      }
    }
  } finally {
    closeSync(pipe.fd);
  }
  await sleep(r.int(5));
}

/**
 * semaphore: attach properly (a table entry), then commit forged slots under
 * the protocol (empty, then the lock, then the commit counter, then full):
 * false sizes, junk frames, another entry's index, a false pid or flags; now
 * and then a table entry with no process behind it, or a commit counter moved
 * by far more than one.
 */
async function semaphoreRound(r, address, transport) {
  const HEADER_BYTES = 4096, H_IN = 6, TABLE_WORD = 64, E_HOLDS_EMPTY = 2, MAX_PRODUCERS = 64;
  const s = await transport.connect(address);
  const w = s.w;
  const held = TABLE_WORD + s.entry * 4 + E_HOLDS_EMPTY;
  for (let i = r.int(4); i > 0; i--) s.write(r.bytes(r.int(100)));
  await s.drain().catch(() => {});
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) {
    if (!s.empty.tryWait(s.markEmptyHeld)) {
      await sleep(2);
      continue;
    }
    if (!(await s.mutex.wait(100, s.markMutexOwned))) {
      Atomics.store(w, held, 0);
      s.empty.post();
      continue;
    }
    const inSeq = Atomics.load(w, H_IN);
    const off = HEADER_BYTES + (inSeq & (address.slots - 1)) * address.slotSize;
    const room = address.slotSize - 16;
    const frames = [];
    for (let f = 1 + r.int(3); f > 0; f--) frames.push(frame(r, address.maxMessageSize));
    const body = r.mutate(Buffer.concat(frames)).subarray(0, room);
    s.seg.buffer.set(body, off + 16);
    const o4 = off >>> 2;
    w[o4] = r.pick([s.entry, s.entry, s.entry, r.int(MAX_PRODUCERS), r.int(0x100000000) | 0]);
    w[o4 + 1] = r.next() < 0.7 ? body.length : r.length(room) | 0;
    w[o4 + 2] = r.pick([0, 0, 0, 1, r.int(0x100000000) | 0]);
    w[o4 + 3] = r.pick([process.pid, process.pid, process.pid, 0, r.int(0x100000000) | 0]);
    Atomics.store(w, held, 0);
    Atomics.store(w, H_IN, (inSeq + (r.next() < 0.002 ? r.int(0x100000000) : 1)) | 0);
    s.full.post();
    s.mutex.post(s.markMutexFree);
    await sleep(r.int(3));
  }
  // A table entry with no live process behind it (its lock is free): recovered at the next probe.
  if (r.next() < 0.05) Atomics.compareExchange(w, TABLE_WORD + r.int(MAX_PRODUCERS) * 4, 0, r.int(0x100000000) | 0);
  await sleep(r.int(10));
  await s.close().catch(() => {});
}

/** zeromq: a raw PUSH sending mutated headers (magic, kind, pid, session, seq, count) and bodies. */
async function zeromqRound(r, address, zmq) {
  const push = new zmq.Push({ linger: 0, sendTimeout: 100 });
  push.connect(address.endpoint);
  const session = r.int(0x100000000);
  let seq = 0;
  const n = 1 + r.int(20);
  try {
    for (let i = 0; i < n; i++) {
      const body = i === 0 ? Buffer.from("{}") : Buffer.concat([frame(r, address.maxMessageSize), r.next() < 0.3 ? r.bytes(r.int(16)) : Buffer.alloc(0)]);
      const h = Buffer.alloc(20 + body.length);
      h[0] = r.next() < 0.95 ? 0x5a : r.int(256);
      h[1] = r.next() < 0.95 ? 1 : r.int(256);
      h[2] = i === 0 ? 1 : r.pick([2, 2, 2, 3, 4, r.int(256)]);
      h.writeUInt32LE(r.next() < 0.9 ? process.pid : r.int(0x100000000), 4);
      h.writeUInt32LE(session, 8);
      h.writeUInt32LE(r.next() < 0.9 ? seq++ : r.int(0x100000000), 12);
      h.writeUInt32LE(r.next() < 0.7 ? 1 : r.length(1 << 20), 16);
      body.copy(h, 20);
      await push.send(r.next() < 0.05 ? h.subarray(0, r.int(20)) : h);
    }
  } catch {
    // send timeout: the receiver is not reading now
  }
  await sleep(r.int(20));
  push.close();
}

// ---- the run ------------------------------------------------------------------

const TRANSPORTS = {
  // A producer reaches a pipe only by inheriting its write end: the peer and the good producer open it through /proc.
  pipe: { pkg: "pipe", exportName: "pipeTransport", listen: { maxMessageSize: 262144 }, round: (r, a, recv) => pipeRound(r, a, recv), viaPipe: true },
  uds: { pkg: "socket", exportName: "udsTransport", listen: {}, round: (r, a) => streamRound(r, a) },
  tcp: { pkg: "socket", exportName: "tcpTransport", listen: { handshakeTimeoutMs: 200 }, round: (r, a) => streamRound(r, a) },
  // One byte stream shared by every writer: a packet with a false length desynchronises it, and the
  // channel ends with EPROTO (the documented outcome), after which nothing more is read.
  fifo: { pkg: "fifo", exportName: "fifoTransport", listen: {}, round: (r, a) => fifoRound(r, a), sharedStream: true },
  mqueue: { pkg: "mqueue", exportName: "mqueueTransport", listen: {}, round: async (r, a) => mqueueRound(r, a, await import(dist("posix"))) },
  shm: { pkg: "shm", exportName: "shmTransport", listen: { maxProducers: 256, ringBytes: 65536 }, round: async (r, a) => shmRound(r, a, (await import(dist("shm"))).shmTransport, await import(dist("posix"))), rounds: 200 },
  mmap: { pkg: "mmap", exportName: "mmapTransport", listen: { maxProducers: 1024, segmentBytes: 65536 }, round: async (r, a) => mmapRound(r, a, (await import(dist("mmap"))).mmapTransport, await import(dist("posix"))), rounds: 900 },
  // Every producer commits into one ring: a commit counter moved by far more than one cannot be laid at
  // any producer's door, and the channel ends with EPROTO, as a desynchronised FIFO does.
  semaphore: { pkg: "semaphore", exportName: "semaphoreTransport", listen: {}, round: async (r, a) => semaphoreRound(r, a, (await import(dist("semaphore"))).semaphoreTransport), sharedStream: true },
  zeromq: { pkg: "zeromq", exportName: "zeromqTransport", listen: {}, round: async (r, a) => zeromqRound(r, a, await import(path.join(ROOT, "packages/zeromq/node_modules/zeromq/lib/index.js"))) },
};

function startReceiver(spec) {
  const child = spawn(process.execPath, [RECEIVER, dist(spec.pkg), spec.exportName, JSON.stringify(spec.listen)], { stdio: ["pipe", "pipe", "pipe"] });
  const lines = [];
  let waiting;
  let buf = "";
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.setEncoding("utf8").on("data", (t) => {
    buf += t;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      lines.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
      waiting?.();
    }
  });
  const exited = new Promise((res) => child.on("exit", (code, signal) => res(signal ?? code)));
  const line = async (ms = 10_000) => {
    const until = Date.now() + ms;
    while (lines.length === 0) {
      if (Date.now() > until || child.exitCode !== null || child.signalCode) return undefined;
      await new Promise((res) => ((waiting = res), setTimeout(res, 100)));
    }
    return lines.shift();
  };
  return { child, line, exited, stderr: () => stderr };
}

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** Sends GOOD_COUNT good messages from a separate process; resolves with its output. */
async function goodProducer(spec, address, recv) {
  let pipe;
  if (spec.viaPipe) {
    pipe = await admitPipe(recv);
    if (!pipe) return "no pipe admitted";
    address = pipe.address;
  }
  const src = `const t = (await import(${JSON.stringify(dist(spec.pkg))})).${spec.exportName};
    const s = await t.connect(${JSON.stringify(address)});
    const m = Buffer.alloc(8); m.write("GOOD");
    for (let i = 0; i < ${GOOD_COUNT}; i++) { m.writeUInt32LE(i, 4); await s.send(m); }
    await s.close(); console.log("sent");`;
  // The pipe's write end is the child's descriptor 3, as an admission hands it over.
  const child = spawn(process.execPath, ["--input-type=module", "-e", src], { stdio: ["ignore", "pipe", "pipe", ...(pipe ? [pipe.fd] : [])] });
  if (pipe) closeSync(pipe.fd);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  return new Promise((res) => child.on("close", () => (clearTimeout(timer), res(out.trim()))));
}

export async function fuzzTransport(id, { seconds, seed }) {
  const spec = TRANSPORTS[id];
  // Odd seeds read with reuseBatches (the receiver reads each batch in place): pooled buffers and leased arenas get the same hostile peers.
  const recv = startReceiver({ ...spec, listen: { ...spec.listen, reuseBatches: (seed & 1) === 1 } });
  const findings = [];
  let rounds = 0;
  try {
    const first = await recv.line();
    if (!first?.address) return { id, rounds, findings: [`receiver did not start: ${recv.stderr()}`] };
    const address = first.address;
    const r = rng(seed);
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until && rounds < (spec.rounds ?? Infinity)) {
      try {
        await spec.round(r, address, recv);
      } catch (err) {
        // The hostile side's own failures (ELIMIT when every slot is taken, a full queue) are not findings.
        if (!(err && typeof err.code === "string")) findings.push(`peer round ${rounds}: ${err}`);
      }
      rounds++;
      if (recv.child.exitCode !== null || recv.child.signalCode) break;
    }
    const sent = await goodProducer(spec, address, recv);
    await sleep(500);
    const t0 = recv.child.exitCode === null ? cpuTicks(recv.child.pid) : 0;
    await sleep(1000);
    const idleTicks = recv.child.exitCode === null ? cpuTicks(recv.child.pid) - t0 : 0;
    // Producers that went away without a word are found by their locks, connections or silence
    // (ZeroMQ peers without an acknowledgement socket: 3 s): ask until every one has ended, or 6 s.
    let report;
    for (const until = Date.now() + 6000; ; await sleep(250)) {
      recv.child.stdin.write("report\n");
      report = await recv.line();
      if (!report || report.failure || Date.now() > until) break;
      const p = report.producers;
      if (p.attached === p.closed + p.lost) break;
    }
    if (!report) {
      findings.push(`receiver died or hung (exit ${recv.child.exitCode ?? recv.child.signalCode}): ${recv.stderr().slice(-2000)}`);
      return { id, rounds, findings };
    }
    const endedTyped = spec.sharedStream && /^_?ChannelError: EPROTO /.test(report.failure ?? "");
    if (report.failure && !endedTyped) findings.push(`iteration ended: ${report.failure}`);
    // After a shared stream ended, the good producer must fail with a typed error, not hang (killed at 30 s: no output).
    if (sent !== "sent" && !(endedTyped && /ChannelError|code: 'E[A-Z]+'/.test(sent))) findings.push(`the good producer failed after fuzzing: ${sent.slice(0, 500)}`);
    if (sent === "sent" && report.good < GOOD_COUNT && !endedTyped) findings.push(`only ${report.good} of ${GOOD_COUNT} good messages arrived`);
    for (const code of Object.keys(report.lost)) if (!CODES.has(code)) findings.push(`untyped loss: ${code}`);
    // Every peer has gone by now: a producer the receiver counted but never ended would keep iteration from finishing.
    const { attached, closed, lost: gone } = report.producers;
    if (!report.failure && attached !== closed + gone) findings.push(`${attached - closed - gone} of ${attached} producers never ended (closed ${closed}, lost ${gone})`);
    if (report.oversized > 0) findings.push(`${report.oversized} messages over the ${address.maxMessageSize}-byte limit were delivered`);
    if (report.rss > RSS_BOUND) findings.push(`rss ${report.rss} over the ${RSS_BOUND}-byte bound`);
    if (idleTicks > 20) findings.push(`busy while idle: ${idleTicks} ticks in 1 s`);
    return { id, rounds, findings, lost: report.lost, messages: report.messages, rss: report.rss, idleTicks, ended: report.failure };
  } finally {
    recv.child.stdin.write("close\n");
    const done = await Promise.race([recv.exited, sleep(3000).then(() => "timeout")]);
    if (done === "timeout") recv.child.kill("SIGKILL");
  }
}

export async function fuzz({ seconds, transports = Object.keys(TRANSPORTS), seed = Date.now() >>> 0, log = console.log } = {}) {
  const results = [];
  for (const id of transports) {
    const res = await fuzzTransport(id, { seconds, seed });
    log(JSON.stringify({ transport: id, seed, seconds, ...res }));
    results.push(res);
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const seconds = Number(arg("seconds") ?? process.env.FUZZ_SECONDS ?? (process.env.CI ? 2 : 30));
  const transports = arg("transports")?.split(",");
  const seed = arg("seed") !== undefined ? Number(arg("seed")) : undefined;
  const results = await fuzz({ seconds, transports, seed });
  const bad = results.filter((r) => r.findings.length > 0);
  console.log(bad.length === 0 ? `fuzz: ${results.map((r) => `${r.id} ${r.rounds} rounds`).join(", ")}: no findings` : `fuzz: findings in ${bad.map((r) => r.id).join(", ")}`);
  process.exitCode = bad.length === 0 ? 0 : 1;
}
