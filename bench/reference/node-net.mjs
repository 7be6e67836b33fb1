#!/usr/bin/env node
// Reference: plain Node `net` over a Unix domain socket, the scenario between
// real processes, written as a Node developer would without this project.
// The parent is the consumer (a net server on a socket file), P children are
// the producers (net.connect).
//
//   node bench/reference/node-net.mjs --producers P --messages M --size S [--timeout SECONDS]
//   node bench/reference/node-net.mjs --roundtrip N [--size S] [--pinger-cpu C] [--ponger-cpu C] [--timeout SECONDS]
//
// With --roundtrip: a ping-pong, as the C references run it. The parent sends
// one framed scenario message, the child writes back whatever it reads, and
// the parent times each reply once it is whole and equal to what it sent
// (the first N/10, at most 1,000, are a warm-up). --pinger-cpu and
// --ponger-cpu pin each side (taskset); the record lists in "cpus" the CPUs
// each side was seen on.
//
// Each message is one socket.write() of a fresh buffer: a 4-byte
// little-endian length, then the scenario message. A producer honours
// backpressure (write() false: wait for 'drain'). The consumer reassembles
// frames across reads and verifies order, gaps, duplicates, every checksum
// and the total, like every other row. Prints exactly one JSON line
// (transport "node-net-uds").
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Encoder, HEADER_BYTES, Verifier, consumerRecord, monotonicNs, referenceMain } from "./scenario.mjs";

const SELF = fileURLToPath(import.meta.url);

function parseArgs(argv) {
  const o = { producers: 1, messages: 100000, size: 64, timeout: 120, child: -1, path: "", roundtrip: 0, pingerCpu: -1, pongerCpu: -1, pong: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    if (k === "--path") {
      o.path = argv[i + 1];
      continue;
    }
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${k} wants a non-negative integer, got ${argv[i + 1]}`);
    if (k === "--producers") o.producers = v;
    else if (k === "--messages") o.messages = v;
    else if (k === "--size") o.size = v;
    else if (k === "--timeout") o.timeout = v;
    else if (k === "--child") o.child = v;
    else if (k === "--roundtrip") o.roundtrip = v;
    else if (k === "--pinger-cpu") o.pingerCpu = v;
    else if (k === "--ponger-cpu") o.pongerCpu = v;
    else if (k === "--pong") (o.pong = 1), (o.child = v);
    else throw new RangeError(`unknown option ${k}`);
  }
  if (o.size < HEADER_BYTES) throw new RangeError(`--size must be at least ${HEADER_BYTES}`);
  if (o.roundtrip === 0 && (o.producers < 1 || o.messages < 1)) throw new RangeError("--producers and --messages must be at least 1");
  return o;
}

// ---- round trip ------------------------------------------------------------

/** The CPU this thread last ran on (field 39 of /proc/self/stat). */
function currentCpu() {
  return Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[36]);
}

/** The echoing child: writes back every byte it reads; on the end, prints the CPUs it was seen on. */
async function ponger(o) {
  const seen = new Set([currentCpu()]);
  const sock = net.connect(o.path);
  let reads = 0;
  sock.on("data", (d) => {
    sock.write(d);
    if ((++reads & 63) === 0) seen.add(currentCpu());
  });
  await once(sock, "end");
  seen.add(currentCpu());
  sock.end();
  process.stdout.write(JSON.stringify({ cpus: [...seen].sort((a, b) => a - b) }) + "\n");
}

function pinger(o) {
  const head = { transport: "node-net-uds", kind: "node-net", mode: "roundtrip", size: o.size, roundTrips: o.roundtrip };
  const warmup = Math.min(Math.floor(o.roundtrip / 10), 1000);
  const total = warmup + o.roundtrip;
  const path = join(tmpdir(), `ipcs-ref-net-rt-${process.pid}.sock`);
  const pins = { ...(o.pingerCpu >= 0 ? { pingerCpu: o.pingerCpu } : {}), ...(o.pongerCpu >= 0 ? { pongerCpu: o.pongerCpu } : {}) };
  // Every thread of this process (not only the main one): as a user would run it under taskset.
  if (o.pingerCpu >= 0) execFileSync("taskset", ["-a", "-p", "-c", String(o.pingerCpu), String(process.pid)], { stdio: "ignore" });
  const seen = new Set([currentCpu()]);
  const rtt = new Float64Array(o.roundtrip);
  let kid;
  let finished = false;
  const finish = (error, pongerCpus) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    server.close();
    rmSync(path, { force: true });
    if (kid && kid.exitCode === null && kid.signalCode === null) kid.kill("SIGKILL");
    if (error) {
      process.stdout.write(JSON.stringify({ ...head, ok: false, error }) + "\n");
      process.exitCode = 1;
      return;
    }
    rtt.sort();
    const q = (p) => Math.round((rtt[Math.min(rtt.length - 1, Math.floor(p * rtt.length))] / 1000) * 100) / 100;
    const cpus = { pinger: [...seen].sort((a, b) => a - b), ponger: pongerCpus };
    const misplaced = [["pinger", o.pingerCpu], ["ponger", o.pongerCpu]].find(([side, cpu]) => cpu >= 0 && (cpus[side].length !== 1 || cpus[side][0] !== cpu));
    const rec = { ...head, p50Us: q(0.5), p99Us: q(0.99), p999Us: q(0.999), warmup, ok: !misplaced, ...pins, cpus };
    if (misplaced) rec.error = `the ${misplaced[0]} should run on CPU ${misplaced[1]} only but ran on CPUs [${cpus[misplaced[0]].join(", ")}]`;
    process.stdout.write(JSON.stringify(rec) + "\n");
    process.exitCode = rec.ok ? 0 : 1;
  };
  const timer = setTimeout(() => finish(`timed out after ${o.timeout} s`), o.timeout * 1000);
  const server = net.createServer((sock) => {
    const enc = new Encoder(0, o.size);
    const frame = Buffer.allocUnsafe(4 + o.size);
    frame.writeUInt32LE(o.size, 0);
    const back = Buffer.allocUnsafe(frame.length);
    let got = 0;
    let i = 0;
    let t0 = 0n;
    const ping = () => {
      enc.encode(i).copy(frame, 4);
      t0 = monotonicNs();
      sock.write(frame);
    };
    sock.on("data", (d) => {
      if (got + d.length > back.length) return finish(`the echo sent ${got + d.length} bytes for a ${back.length}-byte frame`);
      d.copy(back, got);
      got += d.length;
      if (got < back.length) return;
      const dt = Number(monotonicNs() - t0);
      if (!back.equals(frame)) return finish(`round trip ${i}: the reply differs from the message`);
      got = 0;
      if (i >= warmup) rtt[i - warmup] = dt;
      if ((i & 63) === 0) seen.add(currentCpu());
      if (++i < total) return ping();
      seen.add(currentCpu());
      sock.end();
    });
    sock.on("error", (err) => finish(`the ponger's socket: ${err.message}`));
    ping();
  });
  rmSync(path, { force: true });
  server.listen(path, () => {
    const args = [process.execPath, SELF, "--pong", "0", "--path", path];
    kid = spawn(o.pongerCpu >= 0 ? "taskset" : args[0], o.pongerCpu >= 0 ? ["-c", String(o.pongerCpu), ...args] : args.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    kid.stdout.on("data", (d) => (out += d));
    kid.on("close", (code, signal) => {
      if (code !== 0) return finish(`the ponger ${signal ? `was killed by ${signal}` : `exited with status ${code}`}`);
      try {
        finish(undefined, JSON.parse(out).cpus);
      } catch {
        finish("the ponger exited without reporting");
      }
    });
  });
}

// ---- producer (child) ----------------------------------------------------

async function producer(o) {
  if (o.pong) return ponger(o);
  const sock = net.connect(o.path);
  await once(sock, "connect");
  await once(sock, "data"); // the consumer's "go" once every producer is connected
  const enc = new Encoder(o.child, o.size);
  for (let seq = 0; seq < o.messages; seq++) {
    const frame = Buffer.allocUnsafe(4 + o.size);
    frame.writeUInt32LE(o.size, 0);
    enc.encode(seq).copy(frame, 4);
    if (!sock.write(frame)) await once(sock, "drain");
  }
  sock.end();
  await once(sock, "close");
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + "\n");
}

// ---- consumer (parent) ------------------------------------------------------

function consumer(o) {
  if (o.roundtrip > 0) return pinger(o);
  const head = { transport: "node-net-uds", kind: "node-net", producers: o.producers, messages: o.messages, size: o.size };
  const ver = new Verifier(o.producers, o.messages, o.size);
  const path = join(tmpdir(), `ipcs-ref-net-${process.pid}.sock`);
  const kids = [];
  const socks = [];
  const done = new Array(o.producers).fill(null);
  let exited = 0;
  let t0 = 0;
  let tEnd = 0;
  let finished = false;

  const finish = (error) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    server.close();
    rmSync(path, { force: true });
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill("SIGKILL");
    if (error) {
      process.stdout.write(JSON.stringify({ ...head, ok: false, error }) + "\n");
      process.exitCode = 1;
      return;
    }
    const rec = consumerRecord(head, ver, o, t0, tEnd, done);
    process.stdout.write(JSON.stringify(rec) + "\n");
    process.exitCode = rec.ok ? 0 : 1;
  };

  const timer = setTimeout(() => finish(`timed out after ${o.timeout} s with ${ver.received} of ${ver.expected} messages received`), o.timeout * 1000);
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => finish(`interrupted by ${sig}`));

  const server = net.createServer((sock) => {
    socks.push(sock);
    // Bytes of an unfinished frame: kept as chunks and joined once the frame is whole.
    let parts = [];
    let partBytes = 0;
    let need = 4;
    sock.on("data", (chunk) => {
      if (partBytes + chunk.length < need) {
        parts.push(chunk);
        partBytes += chunk.length;
        return;
      }
      const buf = parts.length ? Buffer.concat([...parts, chunk]) : chunk;
      parts = [];
      partBytes = 0;
      let off = 0;
      const now = monotonicNs();
      while (buf.length - off >= 4) {
        const len = buf.readUInt32LE(off);
        if (buf.length - off - 4 < len) break;
        ver.checkBytes(buf.subarray(off + 4, off + 4 + len), now);
        off += 4 + len;
      }
      if (off < buf.length) {
        parts.push(buf.subarray(off));
        partBytes = buf.length - off;
      }
      need = partBytes >= 4 ? 4 + buf.readUInt32LE(off) : 4;
      if (tEnd === 0 && ver.received >= ver.expected) tEnd = monotonicNs();
    });
    sock.on("error", (err) => finish(`a producer's socket: ${err.message}`));
    if (socks.length === o.producers) {
      t0 = monotonicNs();
      for (const s of socks) s.write("g");
    }
  });
  rmSync(path, { force: true });
  server.listen(path, () => {
    for (let id = 0; id < o.producers; id++) {
      const args = [SELF, "--producers", String(o.producers), "--messages", String(o.messages), "--size", String(o.size), "--child", String(id), "--path", path];
      const kid = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
      kids.push(kid);
      let out = "";
      kid.stdout.on("data", (d) => (out += d));
      kid.on("close", (code, signal) => {
        if (code !== 0) return finish(`producer ${id} ${signal ? `killed by ${signal}` : `exited with status ${code}`}`);
        try {
          done[id] = JSON.parse(out);
        } catch {
          return finish(`producer ${id} exited without finishing`);
        }
        if (++exited === o.producers) {
          if (tEnd === 0) tEnd = monotonicNs();
          finish();
        }
      });
    }
  });
}

referenceMain("node-net", "node node-net.mjs --producers P --messages M --size S [--timeout SECONDS] | --roundtrip N [--size S] [--pinger-cpu C] [--ponger-cpu C]", parseArgs, producer, consumer);
