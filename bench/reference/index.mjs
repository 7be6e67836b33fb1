// Entry point for the benchmark harness: build the references, get the
// command line of each reference run, run one and parse its JSON record.
// Dependency-free ESM; no build step.
//
//   import { buildReferences, referenceCommands, runReference, references } from "../../bench/reference/index.mjs";
//
// Every reference prints exactly one JSON line (see bench/README.md,
// "Reference implementations").
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BINARY, buildC } from "./build.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
export const NODE_IPC_SCRIPT = join(HERE, "node-ipc.mjs");
export const NODE_NET_SCRIPT = join(HERE, "node-net.mjs");
export const PYTHON_SCRIPT = join(HERE, "python", "mp_ref.py");
export const C_BINARY = BINARY;

/** The C reference mechanisms; ids match the project's transport ids. */
export const C_MECHANISMS = Object.freeze(["pipe", "fifo", "mqueue", "shm", "mmap", "uds", "tcp", "semaphore"]);

/**
 * What each reference kind supports. `transports` are the ids in the JSON
 * records; `mechanisms` are what referenceCommands accepts for it.
 */
export const references = Object.freeze([
  {
    kind: "reference-c",
    transports: C_MECHANISMS.map((m) => `c-${m}`),
    mechanisms: C_MECHANISMS,
    roundtrip: true,
    limits: { mqueue: "message size up to /proc/sys/fs/mqueue/msgsize_max (larger: a skipped record)" },
  },
  { kind: "node-ipc", transports: ["node-ipc-json", "node-ipc-advanced"], mechanisms: ["node-ipc-json", "node-ipc-advanced"], roundtrip: false },
  { kind: "node-net", transports: ["node-net-uds"], mechanisms: ["node-net-uds"], roundtrip: true },
  {
    kind: "python",
    transports: ["python-queue", "python-pipe", "python-shm-blocking", "python-shm-spin"],
    mechanisms: ["python-queue", "python-pipe", "python-shm-blocking", "python-shm-spin"],
    roundtrip: false,
  },
]);

/** Compiles the C references (skipped when up to date). Returns {ok, error?, binary, built}. */
export function buildReferences(options = {}) {
  return buildC(options);
}

let pythonCache;
/** The python3 to use, or null: {python, reason?}. */
export function findPython() {
  if (pythonCache) return pythonCache;
  const python = process.env.PYTHON || "python3";
  const r = spawnSync(python, ["-c", "import multiprocessing, struct, json"], { stdio: "ignore", timeout: 10_000 });
  pythonCache = r.status === 0 ? { python } : { python: null, reason: `${python} not found or unusable` };
  return pythonCache;
}

function matches(ref, mechanism) {
  if (mechanism === undefined || mechanism === "all") return ref.mechanisms;
  if (ref.mechanisms.includes(mechanism)) return [mechanism];
  if (ref.kind === "reference-c" && mechanism.startsWith("c-") && ref.mechanisms.includes(mechanism.slice(2))) return [mechanism.slice(2)];
  return [];
}

/**
 * The command lines for a run: one entry {kind, transport, mechanism, argv, skip?}
 * per reference that supports `mechanism` ("pipe" → the C pipe reference;
 * "node-ipc-json", "node-net-uds", "python-pipe", "python-shm-spin", "c-shm" → that one; "all" or undefined → every one).
 * argv[0] is the program. With `roundtrip` (a count of round trips, 64 B by
 * default), only the C references and plain Node net answer (ping-pong);
 * `pingerCpu` and `pongerCpu` pin the pinging parent and the echoing child to
 * one CPU each (the C program calls sched_setaffinity on each side, the Node
 * one runs taskset, so the child does not just inherit the parent's CPU) and
 * the record lists in `cpus` the CPUs each side was seen on. An entry with `skip` cannot run here; `skip.record` is
 * the JSON record to report instead.
 */
export function referenceCommands({ mechanism, producers = 1, messages = 100_000, size = 64, roundtrip, pingerCpu, pongerCpu, timeoutS } = {}) {
  const out = [];
  const common = ["--producers", String(producers), "--messages", String(messages), "--size", String(size)];
  const t = timeoutS ? ["--timeout", String(timeoutS)] : [];
  const pins = [];
  for (const [flag, cpu] of [["--pinger-cpu", pingerCpu], ["--ponger-cpu", pongerCpu]]) {
    if (cpu === undefined || cpu === null) continue;
    if (!Number.isInteger(cpu) || cpu < 0) throw new RangeError(`${flag.slice(2)} must be a CPU number (an integer from 0), got ${cpu}`);
    pins.push(flag, String(cpu));
  }
  for (const ref of references) {
    if (roundtrip && !ref.roundtrip) continue;
    for (const m of matches(ref, mechanism)) {
      if (ref.kind === "reference-c") {
        const argv = roundtrip
          ? [C_BINARY, m, "--roundtrip", String(roundtrip), "--size", String(size), ...pins, ...t]
          : [C_BINARY, m, ...common, ...t];
        out.push({ kind: ref.kind, transport: `c-${m}`, mechanism: m, argv });
      } else if (ref.kind === "node-ipc") {
        out.push({ kind: ref.kind, transport: m, mechanism: m, argv: [process.execPath, NODE_IPC_SCRIPT, m.slice("node-ipc-".length), ...common, ...t] });
      } else if (ref.kind === "node-net") {
        const args = roundtrip ? ["--roundtrip", String(roundtrip), "--size", String(size), ...pins] : common;
        out.push({ kind: ref.kind, transport: m, mechanism: m, argv: [process.execPath, NODE_NET_SCRIPT, ...args, ...t] });
      } else {
        const py = findPython();
        const entry = { kind: ref.kind, transport: m, mechanism: m, argv: [py.python || "python3", PYTHON_SCRIPT, m.slice("python-".length), ...common, ...t] };
        if (!py.python) {
          entry.skip = { reason: py.reason, record: { transport: m, kind: "python", producers, messages, size, ok: false, skipped: py.reason } };
        }
        out.push(entry);
      }
    }
  }
  return out;
}

/**
 * Runs one command from referenceCommands and resolves with its JSON record
 * (never rejects). The process and its children are killed after timeoutMs;
 * a run that prints no record resolves with {ok:false, error}.
 */
export function runReference(entry, { timeoutMs = 180_000, env } = {}) {
  if (entry.skip) return Promise.resolve(entry.skip.record);
  return new Promise((resolve) => {
    const [cmd, ...args] = entry.argv;
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env, detached: true });
    let out = "";
    let err = "";
    let timedOut = false;
    const kill = (sig) => {
      try {
        process.kill(-child.pid, sig); // the whole process group: producers too
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill("SIGTERM");
      setTimeout(() => kill("SIGKILL"), 2000).unref();
    }, timeoutMs);
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ transport: entry.transport, kind: entry.kind, ok: false, error: `cannot start ${cmd}: ${e.message}` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      kill("SIGKILL"); // nothing of this run outlives it
      const line = out.split("\n").find((l) => l.startsWith("{"));
      let rec;
      try {
        rec = line ? JSON.parse(line) : undefined;
      } catch {
        rec = undefined;
      }
      if (!rec) {
        const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${signal ?? `status ${code}`}`;
        rec = { transport: entry.transport, kind: entry.kind, ok: false, error: `${why}, no record${err ? `: ${err.trim().slice(0, 500)}` : ""}` };
      } else if (timedOut && rec.ok) {
        rec = { ...rec, ok: false, error: `timed out after ${timeoutMs} ms` };
      }
      resolve(rec);
    });
  });
}
