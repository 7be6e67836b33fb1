#!/usr/bin/env node
// Reference: Node's built-in child-process IPC channel (child_process.fork +
// process.send), the scenario between real processes. The parent is the
// consumer, P forked children are the producers.
//
//   node bench/reference/node-ipc.mjs <json|advanced> --producers P --messages M --size S [--timeout SECONDS]
//
// json     (transport "node-ipc-json", serialization: 'json'): each message is
//          a plain object with the header fields and the payload as a base64
//          string: the usual way to put bytes on a JSON channel (a Buffer would
//          become {type:"Buffer",data:[...numbers]}, about 3.5x larger).
// advanced (transport "node-ipc-advanced", serialization: 'advanced'): each
//          message is the encoded scenario message itself, a Buffer, which the
//          structured-clone serializer carries as bytes.
// Both: the consumer verifies order, gaps, duplicates, every checksum (over
// the payload bytes) and the total. process.send has no 'drain' event, so a
// producer waits for the send callback of every 256th message: memory stays
// bounded and the event loop turns.
// Prints exactly one JSON line.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Encoder, HEADER_BYTES, Verifier, consumerRecord, monotonicNs, referenceMain } from "./scenario.mjs";

const SELF = fileURLToPath(import.meta.url);
const BATCH = 256;

function parseArgs(argv) {
  const o = { mode: argv[0], producers: 1, messages: 100000, size: 64, timeout: 120, child: -1 };
  for (let i = 1; i < argv.length; i += 2) {
    const k = argv[i];
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${k} wants a non-negative integer, got ${argv[i + 1]}`);
    if (k === "--producers") o.producers = v;
    else if (k === "--messages") o.messages = v;
    else if (k === "--size") o.size = v;
    else if (k === "--timeout") o.timeout = v;
    else if (k === "--child") o.child = v;
    else throw new RangeError(`unknown option ${k}`);
  }
  if (o.mode !== "json" && o.mode !== "advanced") throw new RangeError(`mode must be json or advanced, got ${o.mode}`);
  if (o.size < HEADER_BYTES) throw new RangeError(`--size must be at least ${HEADER_BYTES}`);
  if (o.producers < 1 || o.messages < 1) throw new RangeError("--producers and --messages must be at least 1");
  return o;
}

// ---- producer (child) ----------------------------------------------------

async function producer(o) {
  await new Promise((resolve) => {
    process.on("message", function onGo(m) {
      if (m && m.ctl === "go") {
        process.off("message", onGo);
        resolve();
      }
    });
    process.send({ ctl: "ready" });
  });
  const enc = new Encoder(o.child, o.size);
  const json = o.mode === "json";
  const view = enc.view;
  for (let seq = 0; seq < o.messages; ) {
    const end = Math.min(o.messages, seq + BATCH);
    let flushed;
    for (; seq < end; seq++) {
      const bytes = enc.encode(seq);
      // json: the header fields and a base64 payload; advanced: the bytes themselves
      const msg = json
        ? {
            p: o.child, len: enc.payloadLength, seq, t: view.getFloat64(16, true),
            sum: view.getUint32(24, true), v: view.getUint32(28, true),
            payload: bytes.toString("base64", HEADER_BYTES),
          }
        : bytes;
      if (seq === end - 1) flushed = new Promise((resolve, reject) => process.send(msg, (err) => (err ? reject(err) : resolve())));
      else process.send(msg);
    }
    await flushed;
  }
  const cpu = process.cpuUsage();
  const done = { ctl: "done", cpuMs: (cpu.user + cpu.system) / 1000, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
  process.send(done, () => process.disconnect());
}

// ---- consumer (parent) ------------------------------------------------------

function consumer(o) {
  const transport = `node-ipc-${o.mode}`;
  const head = { transport, kind: "node-ipc", producers: o.producers, messages: o.messages, size: o.size };
  const ver = new Verifier(o.producers, o.messages, o.size);
  const kids = [];
  const done = new Array(o.producers).fill(null);
  let ready = 0;
  let exited = 0;
  let t0 = 0;
  let tEnd = 0;
  let finished = false;

  const finish = (error) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
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

  const timer = setTimeout(
    () => finish(`timed out after ${o.timeout} s with ${ver.received} of ${ver.expected} messages received`),
    o.timeout * 1000,
  );
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => finish(`interrupted by ${sig}`));

  const json = o.mode === "json";
  for (let id = 0; id < o.producers; id++) {
    const args = [o.mode, "--producers", String(o.producers), "--messages", String(o.messages), "--size", String(o.size), "--child", String(id)];
    const kid = fork(SELF, args, { serialization: o.mode, stdio: ["ignore", "ignore", "inherit", "ipc"] });
    kids.push(kid);
    kid.on("message", (m) => {
      if (json ? m.ctl === undefined : m instanceof Uint8Array) {
        const now = monotonicNs();
        if (json) {
          const payload = Buffer.from(m.payload, "base64");
          ver.check(m.p, m.len, m.seq, m.t, m.sum, m.v, payload, 0, payload.length, now);
        } else {
          ver.checkBytes(m, now);
        }
        if (tEnd === 0 && ver.received >= ver.expected) tEnd = monotonicNs();
        return;
      }
      if (m.ctl === "ready" && ++ready === o.producers) {
        t0 = monotonicNs();
        for (const k of kids) k.send({ ctl: "go" });
      } else if (m.ctl === "done") {
        done[id] = m;
      }
    });
    kid.on("error", (err) => finish(`producer ${id}: ${err.message}`));
    kid.on("close", (code, signal) => {
      if (code !== 0) return finish(`producer ${id} ${signal ? `killed by ${signal}` : `exited with status ${code}`}`);
      if (!done[id]) return finish(`producer ${id} exited without finishing`);
      if (++exited === o.producers) {
        if (tEnd === 0) tEnd = monotonicNs();
        finish();
      }
    });
  }
}

referenceMain("node-ipc", "node node-ipc.mjs <json|advanced> --producers P --messages M --size S [--timeout SECONDS]", parseArgs, producer, consumer);
