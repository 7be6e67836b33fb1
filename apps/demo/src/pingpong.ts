/**
 * Round-trip latency between two processes over one transport:
 *   node pingpong.js <json: entry, roundTrips, size, role?>
 * The pinger listens, starts the ponger, which attaches to the pinger and
 * listens in turn; the pinger attaches back. Then one message goes each way
 * per round trip; the pinger times each with CLOCK_MONOTONIC. Prints one
 * JSON line: { p50Us, p99Us, p999Us, ok } or { error }.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { monotonicNs, type Address, type Admission, type MessageBatch, type Receiver, type Sender, type Transport } from "@ipc-sampler/core";
import { loadTransport, type TransportEntry } from "./transports.js";

interface Job {
  entry: TransportEntry;
  roundTrips: number;
  size: number;
  warmup: number;
  role?: "ponger";
  address?: Address;
  /** Command prefix for the ponger, e.g. ["taskset", "-c", "1"]. */
  pongerPrefix?: string[];
  /** Where the ponger receives, when the pinger opened that channel toward it (a pipe the child inherits). */
  fromParent?: Address;
}

/** A transport that reaches a child only by inheritance opens the channel toward it too (the pipe). */
interface ToChild {
  openToChild(options: { childFd: number }): Promise<{ sender: Sender; admission: Admission }>;
  receiveFromParent(address: Address): Promise<Receiver>;
}

function toChild(t: Transport): (Transport & ToChild) | undefined {
  return "openToChild" in t && "receiveFromParent" in t ? (t as Transport & ToChild) : undefined;
}

const SELF = fileURLToPath(import.meta.url);

function emit(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

/** Awaits batches one at a time, counting messages. */
function counter(receiver: Receiver) {
  const it = receiver.batches();
  return async function next(): Promise<MessageBatch | undefined> {
    const r = await it.next();
    return r.done ? undefined : r.value;
  };
}

async function ponger(job: Job): Promise<void> {
  const transport = await loadTransport(job.entry);
  const sender: Sender = await transport.connect(job.address!);
  const inherited = job.fromParent ? toChild(transport) : undefined;
  let receiver: Receiver;
  if (inherited) {
    receiver = await inherited.receiveFromParent(job.fromParent!);
  } else {
    receiver = await transport.listen({ ...job.entry.listenOptions, expectedProducers: 1 });
    const admission = await receiver.admit();
    if (admission.inherit.length) throw new Error("this transport only reaches child processes; no round trip back");
    emit({ address: admission.address });
  }
  for await (const batch of receiver.batches()) {
    for (let i = 0; i < batch.count; i++) {
      const s = batch.offsets[2 * i]!;
      sender.write(batch.data.subarray(s, s + batch.offsets[2 * i + 1]!));
    }
  }
  await sender.close();
  await receiver.close();
}

async function pinger(job: Job): Promise<void> {
  const transport = await loadTransport(job.entry);
  const receiver = await transport.listen({ ...job.entry.listenOptions, expectedProducers: 1 });
  const admission = await receiver.admit();
  const prefix = job.pongerPrefix ?? [];
  // A channel that reaches the child only by inheritance: open the way toward it now, before the spawn.
  const inherited = admission.inherit.length > 0 ? toChild(transport) : undefined;
  const forth = inherited ? await inherited.openToChild({ childFd: 3 + admission.inherit.length }) : undefined;
  const ponger = { ...job, role: "ponger", address: admission.address, ...(forth ? { fromParent: forth.admission.address } : {}) };
  const argv = [...prefix, process.execPath, SELF, JSON.stringify(ponger)];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "inherit", ...admission.inherit, ...(forth?.admission.inherit ?? [])] });
  admission.release();
  forth?.admission.release();
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const pongAddress = forth ? undefined : await new Promise<Address>((resolve, reject) => {
    let buf = "";
    child.stdout!.setEncoding("utf8").on("data", (t: string) => {
      buf += t;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { address?: Address; error?: string };
        if (msg.address) resolve(msg.address);
        if (msg.error) reject(new Error(msg.error));
      }
    });
    child.once("exit", (code) => reject(new Error(`the ponger exited with ${code} before attaching`)));
  });
  const sender = forth ? forth.sender : await transport.connect(pongAddress!);
  const next = counter(receiver);
  const msg = new Uint8Array(job.size);
  const total = job.warmup + job.roundTrips;
  const samples = new Float64Array(job.roundTrips);
  let waiting = 0;
  let leftover: MessageBatch | undefined;
  let leftoverIndex = 0;
  for (let i = 0; i < total; i++) {
    const t0 = monotonicNs();
    sender.write(msg);
    // One reply per ping; a batch may hold more than one only if replies queue.
    if (leftover && leftoverIndex < leftover.count) {
      leftoverIndex++;
    } else {
      const b = await next();
      if (!b) throw new Error("the ponger went away");
      leftover = b;
      leftoverIndex = 1;
    }
    const dt = monotonicNs() - t0;
    if (i >= job.warmup) samples[waiting++] = dt;
  }
  await sender.close();
  // Drain the end of the ponger's stream.
  while (await next()) {
    // nothing
  }
  await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
  clearTimeout(timer);
  await receiver.close();
  samples.sort();
  const q = (p: number) => Math.round((samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]! / 1000) * 100) / 100;
  emit({ ok: true, p50Us: q(0.5), p99Us: q(0.99), p999Us: q(0.999) });
}

const job = JSON.parse(process.argv[2]!) as Job;
(job.role === "ponger" ? ponger(job) : pinger(job)).catch((err) => {
  emit({ ok: false, error: String((err as Error)?.message ?? err).split("\n")[0] });
  // Open channels would keep the process alive; the error is final.
  process.exit(1);
});
