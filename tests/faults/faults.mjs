// Fault injection: for each transport, runs in which a receiver process and
// one or two producer processes exchange numbered, checksummed messages and
// one of them is SIGKILLed at a random moment (seeded: the seed of each run
// is printed, and `--seed S --runs 1` repeats it). A run passes when
//   - nothing torn, duplicated, reordered or lost was ever delivered (sequence
//     and checksum per producer; a surviving producer's messages all arrive),
//   - the healthy side got a typed ChannelError within 1 s of the kill
//     (the receiver through onPeerLost; a producer from the write, drain or
//     close it was in; or from its closing close() when it was never blocked),
//   - every process ended by itself (nothing hangs; all are killed anyway),
//   - the transport's removeStale({ minAgeMs: 0 }) leaves nothing of the run.
//
//   node tests/faults/faults.mjs [--runs N] [--transports a,b] [--seed N]
//   (default 100 runs per transport; FAULT_RUNS overrides)
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const RECEIVER = fileURLToPath(new URL("./receiver.mjs", import.meta.url));
const { transports } = await import(pathToFileURL(path.join(ROOT, "apps/demo/dist/registry.js")).href);
const posix = await import(pathToFileURL(path.join(ROOT, "packages/posix/dist/index.js")).href);
export const TRANSPORTS = transports.map((t) => t.id);
/**
 * Why message queues cannot be listed here (no mqueue file system mounted,
 * and this process may not mount one), or undefined when they can: then
 * mqueue's removeStale finds a killed receiver's queue.
 */
export function mqueueUnlistable() {
  const m = posix.mountMqueue();
  return "reason" in m ? m.reason : undefined;
}
const CODES = new Set(["EPEERGONE", "ECLOSED", "ETIMEDOUT"]);
/** How long the healthy side may take to get its error. */
export const DETECT_MS = 1000;
const DURATION_MS = 1500;
const RUN_TIMEOUT_MS = 20_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function rng(seed) {
  // Mixed first, so neighbouring seeds start far apart.
  let x = Math.imul(seed ^ (seed >>> 16), 0x45d9f3b);
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  x = (x ^ (x >>> 16)) >>> 0 || 1;
  return () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 4294967296);
}

function moduleOf(entry) {
  const dir = entry.packageName.replace("@ipc-sampler/", "");
  return pathToFileURL(path.join(ROOT, "packages", dir, "dist/index.js")).href;
}

/** Running (a zombie, reaped by nobody once its parent was killed, counts as ended). */
const alive = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
};
/** A ChannelError (bundlers may rename the class: _ChannelError) with a code the healthy side may get. */
const typed = (e) => /ChannelError$/.test(e?.name ?? "") && CODES.has(e.code);

/** One run; returns { findings, victim, producers, latencyMs }. */
export async function faultRun(id, seed, options = {}) {
  const entry = transports.find((t) => t.id === id);
  const url = moduleOf(entry);
  const transport = (await import(url))[entry.exportName];
  const next = rng(seed);
  const producers = next() < 0.5 ? 1 : 2;
  const victim = next() < 0.5 ? "consumer" : "producer";
  const prefix = `ipcsf${(seed >>> 0).toString(36)}-`;
  const findings = [];
  const lines = [];
  const waiters = [];
  const child = spawn(process.execPath, [RECEIVER, url, entry.exportName, JSON.stringify({ ...entry.listenOptions, prefix }), String(producers), String(seed), String(DURATION_MS)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let buffered = "";
  // The receiver's stdout is also its producers': it ends when all of them have.
  const outputEnded = new Promise((res) => child.stdout.on("end", res));
  child.stdout.setEncoding("utf8").on("data", (t) => {
    buffered += t;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = JSON.parse(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      if (line.finding) findings.push(`delivered: ${line.finding}`);
      for (const w of waiters.splice(0)) (w.pred(line) ? w.resolve : (l) => waiters.push(w))(line);
    }
  });
  const receiverExit = new Promise((res) => child.on("exit", (code, signal) => res({ code, signal })));
  const waitFor = (pred, what) => {
    const found = lines.find(pred);
    if (found) return Promise.resolve(found);
    return Promise.race([
      new Promise((resolve) => waiters.push({ pred, resolve })),
      Promise.race([receiverExit, sleep(RUN_TIMEOUT_MS)]).then(() => lines.find(pred) ?? Promise.reject(new Error(`no ${what}`))),
    ]);
  };
  let pids = [];
  let killedAt;
  let latencyMs;
  let skipped;
  try {
    pids = (await waitFor((l) => l.producers, "producers started")).producers;
    for (let i = 0; i < producers; i++) await waitFor((l) => l.role === "producer" && l.id === i && (l.connected || l.error), `producer ${i} connected`);
    await waitFor((l) => l.receiving, "first message");
    await sleep(Math.floor(next() * DURATION_MS * 0.5));
    const target = victim === "consumer" ? child.pid : pids[Math.floor(next() * producers)];
    const killedIndex = pids.indexOf(target);
    killedAt = Date.now();
    if (!alive(target)) throw Object.assign(new Error("the victim had ended by itself before its moment"), { victimGone: true });
    process.kill(target, "SIGKILL");
    // Everyone else must end by itself.
    const ended = await Promise.race([outputEnded.then(() => receiverExit).then(() => true), sleep(RUN_TIMEOUT_MS).then(() => false)]);
    // A process whose output ended may still be exiting (its descriptors close before it is a zombie): give it a second.
    const others = [child.pid, ...pids].filter((p) => p !== target);
    for (let i = 0; ended && i < 50 && others.some(alive); i++) await sleep(20);
    const stuck = others.filter(alive);
    if (!ended || stuck.length) findings.push(`hang: ${stuck.length ? `pids ${stuck.join(",")} still running` : "output never ended"} after the kill`);
    const produced = lines.filter((l) => l.role === "producer");
    const received = lines.find((l) => l.role === "receiver" && l.done);
    if (victim === "producer") {
      const lost = lines.filter((l) => l.role === "receiver" && l.lost);
      const first = lost.find((l) => typed(l.lost));
      if (!first) findings.push(`receiver got no typed error for the killed producer: ${JSON.stringify(lost)}`);
      else {
        latencyMs = first.at - killedAt;
        const reaped = lines.find((l) => l.reaped === target);
        if (latencyMs > DETECT_MS) findings.push(`receiver got ${first.lost.code} ${latencyMs} ms after the kill (more than ${DETECT_MS}; it reaped the killed producer after ${reaped ? reaped.at - killedAt : "?"} ms)`);
      }
      if (lost.length > 1) findings.push(`receiver reported ${lost.length} lost producers, one was killed`);
      const iter = lines.find((l) => l.iterationError);
      if (iter) findings.push(`receiver iteration threw with onPeerLost set: ${JSON.stringify(iter.iterationError)}`);
      if (!received) findings.push("receiver never ended its iteration");
      for (const p of produced.filter((l) => l.id !== killedIndex && (l.done || l.error))) {
        if (p.error) findings.push(`surviving producer ${p.id} failed: ${JSON.stringify(p.error)} in ${p.op}`);
        else if (received && received.received[p.id] !== p.sent) findings.push(`surviving producer ${p.id} sent ${p.sent}, receiver got ${received.received[p.id]}`);
      }
    } else {
      for (let i = 0; i < producers; i++) {
        const end = produced.find((l) => l.id === i && (l.done || l.error));
        if (!end) findings.push(`producer ${i} never reported an end`);
        else if (end.done && end.at > killedAt) findings.push(`producer ${i} closed without error after its receiver was killed`);
        else if (end.error) {
          if (!typed(end.error)) findings.push(`producer ${i} got ${JSON.stringify(end.error)} in ${end.op}`);
          const ms = end.at - killedAt;
          latencyMs = Math.max(latencyMs ?? 0, ms);
          if (ms > DETECT_MS && end.op !== "close") findings.push(`producer ${i} got ${end.error.code} in ${end.op} ${ms} ms after the kill (more than ${DETECT_MS})`);
          if (ms > DETECT_MS && end.op === "close" && killedAt + DURATION_MS + DETECT_MS < end.at) findings.push(`producer ${i}'s close() took until ${ms} ms after the kill`);
        }
      }
    }
  } catch (err) {
    const refused = lines.find((l) => l.listenError?.code === "ELIMIT");
    if (refused) skipped = `the receiver could not listen: ${refused.listenError.message}`;
    else if (err.victimGone) skipped = `${err.message} (a slow machine)`;
    else findings.push(`run failed: ${err.message} (lines: ${JSON.stringify(lines.slice(-5))})`);
  } finally {
    for (const p of [child.pid, ...pids]) if (alive(p)) process.kill(p, "SIGKILL");
    await receiverExit;
    for (let i = 0; i < 50 && pids.some(alive); i++) await sleep(20);
  }
  // Nothing of the run is left once stale resources are removed.
  if (transport.named) {
    await transport.named.removeStale({ prefix, minAgeMs: 0 });
    const left = await transport.named.list({ prefix });
    if (left.length) findings.push(`left after removeStale: ${left.join(", ")}`);
  }
  const address = lines.find((l) => l.address)?.address;
  if (address?.path && existsSync(address.path)) findings.push(`left after removeStale: ${address.path}`);
  // A queue name is listed only through a mounted mqueue file system: ask for the run's queue by name (and remove it).
  if (address?.transport === "mqueue") {
    try {
      posix.mqUnlink(address.name);
      findings.push(`left after removeStale: message queue ${address.name}`);
    } catch {
      // ENOENT: gone, as it should be.
    }
  }
  return { findings, victim, producers, latencyMs, killedAt, skipped };
}

/** `runs` runs of one transport, seeds seed, seed+1, …; returns the failures with their seeds. */
export async function faultTransport(id, { runs, seed, log = () => {} }) {
  const failures = [];
  const skipped = [];
  const latencies = { producer: [], consumer: [] };
  for (let i = 0; i < runs; i++) {
    const s = (seed + i) >>> 0;
    const r = await faultRun(id, s);
    if (r.skipped) skipped.push({ seed: s, reason: r.skipped });
    if (r.latencyMs !== undefined) latencies[r.victim].push(r.latencyMs);
    if (r.findings.length) failures.push({ seed: s, victim: r.victim, producers: r.producers, findings: r.findings });
    log(`${id} run ${i + 1}/${runs} seed ${s}: ${r.skipped ? `skipped: ${r.skipped}` : `killed the ${r.victim}`} (${r.producers} producer${r.producers > 1 ? "s" : ""})${r.findings.length ? ": " + r.findings.join("; ") : ""}`);
  }
  return { runs, failures, skipped, latencies };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const runs = Number(arg("runs") ?? process.env.FAULT_RUNS ?? 100);
  const seed = Number(arg("seed") ?? process.env.FAULT_SEED ?? Date.now() >>> 0);
  const ids = (arg("transports") ?? TRANSPORTS.join(",")).split(",");
  console.log(`fault injection: ${runs} runs per transport, seed ${seed}`);
  const unlistable = ids.includes("mqueue") ? mqueueUnlistable() : undefined;
  if (unlistable) console.log(`mqueue: ${unlistable}; a killed receiver's queue is looked for by name only`);
  let failed = 0;
  for (const id of ids) {
    const started = Date.now();
    const res = await faultTransport(id, { runs, seed, log: process.env.FAULT_VERBOSE ? console.log : () => {} });
    const max = (a) => (a.length ? Math.max(...a) : "-");
    console.log(`${id}: ${res.runs} runs, ${res.failures.length} failed, ${res.skipped.length} skipped, ${((Date.now() - started) / 1000).toFixed(1)} s; slowest error after a kill: receiver ${max(res.latencies.producer)} ms, producer ${max(res.latencies.consumer)} ms`);
    for (const f of res.failures) console.log(`  seed ${f.seed} (${f.victim} killed, ${f.producers} producers): ${f.findings.join("; ")}`);
    for (const k of res.skipped) console.log(`  seed ${k.seed} skipped: ${k.reason}`);
    failed += res.failures.length;
  }
  process.exitCode = failed ? 1 : 0;
}
