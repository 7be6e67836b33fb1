import { DEV_SHM_SIZE, MAX_MAP_COUNT, ChannelError, DEFAULT_PREFIX, namedResources, removeOnExit, removedNames, waitForResource, uniqueName, validatePrefix, type Address, type ConnectOptions, type ListenOptions, type MechanismDescriptor, type Receiver, type Sender, type Transport } from "@ipc-sampler/core";
import { SHM_DIR, claimSlot, createSegment, futexWake, openSegment, removeSegment, segments } from "@ipc-sampler/posix";
import { ACTIVE, CLAIMED, FREE, H_CLOSED, H_DOORBELL, H_MAGIC, H_MAX_MESSAGE, H_OWNER_PID, H_RINGS_OFFSET, H_RING_BYTES, H_SLOTS, H_VERSION, MAGIC, S_HEAD, S_PID, S_STATE, S_TAIL, VERSION, maxMessageFor, nextPow2, ringsOffset, segmentBytes, slotWord } from "./layout.js";
import { ShmReceiver } from "./receiver.js";
import { ShmSender } from "./sender.js";

export { ShmReceiver, type ShmReceiverOptions } from "./receiver.js";
export { ShmSender, type ShmSenderOptions } from "./sender.js";
export * from "./shared-array.js";

/** Default ring per producer: 4 MiB, so the default largest message is 2 MiB - 8 bytes. */
export const SHM_DEFAULT_RING_BYTES = 4 * 1024 * 1024;
export const SHM_DEFAULT_SLOTS = 8;
/** Segment names carry this tag after the prefix: `ipcs-shm-<pid>-…`. */
const TAG = "shm";

export const shmDescriptor: MechanismDescriptor = {
  id: "shm",
  mechanism: "POSIX shared memory",
  kernelInterface: "shm_open(3) + mmap(2) + futex(2)",
  persistence: "kernel",
  naming: "kernel name",
  direction: "one-way",
  messageBoundaries: false,
  copiesPerMessage: 1,
  maxMessageSize: maxMessageFor(SHM_DEFAULT_RING_BYTES),
  relatedProcessesOnly: false,
  crossesMachines: false,
  summary: "A /dev/shm segment holding one lock-free ring per producer; the consumer reads messages in place and sleeps on a futex when idle.",
  kernelLimits: [DEV_SHM_SIZE, { meaning: "mapping granularity: segments are whole pages", unit: "bytes", from: { getconf: "PAGESIZE" } }, MAX_MAP_COUNT],
};

export interface ShmAddress extends Address {
  readonly transport: "shm";
  /** The segment's name in /dev/shm. */
  readonly name: string;
  readonly path: string;
  readonly ringBytes: number;
  readonly slots: number;
  readonly ringsOffset: number;
}

export interface ShmListenOptions extends ListenOptions {
  /** ftruncate(2) of the shm_open(3) object, per producer: bytes of each ring, rounded up to a power of two (default 4 MiB). A message may take at most half a ring. */
  ringBytes?: number;
  /** How many producers can be attached at once: one ring each (default 8). A slot is reused once its producer finished. */
  maxProducers?: number;
  /** mode — shm_open(3). File mode of the segment (default 0o600). */
  mode?: number;
  /** Busy-wait before sleeping on the futex (µs; default 50, or 0 when the process may only run on one CPU; 0 never spins). Adapts down when spinning does not pay. */
  spinUs?: number;
  /** Opt-in busy-poll: while messages arrived within the last `busyPollMs` ms, never sleep, spin and yield to the event loop instead (a whole CPU while traffic flows; default 0: off). */
  busyPollMs?: number;
}

export interface ShmConnectOptions extends ConnectOptions {
  /** Busy-wait for ring space before sleeping on the futex (µs, default 50). */
  spinUs?: number;
}

async function listen(options: ShmListenOptions = {}): Promise<Receiver> {
  const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
  const slots = options.maxProducers ?? SHM_DEFAULT_SLOTS;
  if (!Number.isInteger(slots) || slots < 1 || slots > 256) throw new RangeError(`maxProducers must be an integer from 1 to 256; got ${slots}`);
  let ringBytes = options.ringBytes ?? SHM_DEFAULT_RING_BYTES;
  if (!Number.isInteger(ringBytes) || ringBytes < 4096 || ringBytes > 2 ** 30) throw new RangeError(`ringBytes must be an integer from 4096 to 2^30; got ${ringBytes}`);
  let maxMessageSize = options.maxMessageSize;
  if (maxMessageSize !== undefined) {
    if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > maxMessageFor(2 ** 30)) {
      throw new RangeError(`maxMessageSize must be an integer from 0 to ${maxMessageFor(2 ** 30)}; got ${maxMessageSize}`);
    }
    // A message may take at most half a ring: grow the ring to fit the limit asked for.
    ringBytes = Math.max(ringBytes, nextPow2(2 * (maxMessageSize + 8)));
  }
  ringBytes = nextPow2(ringBytes);
  maxMessageSize ??= maxMessageFor(ringBytes);
  const name = uniqueName(prefix, TAG);
  // Preallocated: a full /dev/shm is ELIMIT here, not a SIGBUS on first touch of a ring page later.
  const segment = createSegment(name, segmentBytes(slots, ringBytes), { mode: options.mode ?? 0o600, preallocate: true });
  const unregister = removeOnExit(() => removeSegment(name));
  const buf = segment.buffer;
  const words = new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
  words[H_VERSION] = VERSION;
  words[H_RING_BYTES] = ringBytes;
  words[H_SLOTS] = slots;
  words[H_MAX_MESSAGE] = maxMessageSize;
  words[H_OWNER_PID] = process.pid;
  words[H_RINGS_OFFSET] = ringsOffset(slots);
  Atomics.store(words, H_MAGIC, MAGIC); // last: the header is complete
  // The descriptor stays open: the receiver asks on it whether each producer's slot lock is held.
  const address: ShmAddress = { transport: "shm", name, path: segment.path, maxMessageSize, ringBytes, slots, ringsOffset: ringsOffset(slots) };
  return new ShmReceiver(address, segment, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    spinUs: options.spinUs,
    busyPollMs: options.busyPollMs,
    cleanup: () => {
      removeSegment(name);
      unregister();
    },
  });
}

async function connect(address: Address, options: ShmConnectOptions = {}): Promise<ShmSender> {
  const a = address as ShmAddress;
  if (a.transport !== "shm" || typeof a.name !== "string") throw new TypeError(`not a shm address: ${JSON.stringify(address)}`);
  const segment = await waitForResource("shared memory", a.path, options.timeoutMs ?? 10_000, () => openSegment(a.name));
  const buf = segment.buffer;
  const words = new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
  const bad = (why: string) => {
    segment.close();
    return new ChannelError("EPROTO", `cannot attach to shared memory ${a.path}: ${why}`, { resource: a.path });
  };
  if (Atomics.load(words, H_MAGIC) !== MAGIC || words[H_VERSION] !== VERSION) throw bad("it is not an ipc-sampler shm segment");
  if (words[H_RING_BYTES] !== a.ringBytes || words[H_SLOTS] !== a.slots || buf.length < segmentBytes(a.slots, a.ringBytes)) throw bad("its geometry differs from the address");
  // The receiver's mapping holds the segment's owner lock: no pid is trusted.
  if (Atomics.load(words, H_CLOSED) !== 0 || !segment.ownerAlive()) {
    segment.close();
    throw new ChannelError("EPEERGONE", `cannot attach to shared memory ${a.path}: the receiver went away`, { resource: a.path });
  }
  const slot = claimSlot(a.slots, segment, (s) => Atomics.compareExchange(words, slotWord(s, S_STATE), FREE, CLAIMED) === FREE);
  if (slot < 0) {
    segment.close();
    throw new ChannelError("ELIMIT", `cannot attach to shared memory ${a.path}: all ${a.slots} producer slots are in use (listen with a larger maxProducers)`, { resource: a.path });
  }
  Atomics.store(words, slotWord(slot, S_PID), process.pid);
  Atomics.store(words, slotWord(slot, S_TAIL), Atomics.load(words, slotWord(slot, S_HEAD)));
  Atomics.store(words, slotWord(slot, S_STATE), ACTIVE);
  Atomics.add(words, H_DOORBELL, 1);
  futexWake(words, H_DOORBELL);
  return new ShmSender(segment, slot, a.ringsOffset + slot * a.ringBytes, a.ringBytes, a.maxMessageSize, a.path, { spinUs: options.spinUs });
}

/** The ring segments, `<prefix>shm-…` in /dev/shm. */
const named = namedResources([segments, TAG]);

/** @deprecated named.list(). Ring segments with this prefix (names, not paths). */
async function list(prefix = DEFAULT_PREFIX): Promise<string[]> {
  return named.list({ prefix });
}

/** @deprecated named.removeStale(). Removes ring segments no live receiver owns; returns their paths. */
async function removeStale(prefix = DEFAULT_PREFIX): Promise<string[]> {
  return removedNames(await named.removeStale({ prefix })).map((n) => `${SHM_DIR}/${n}`);
}

export const shmTransport: Omit<Transport<ShmListenOptions, ShmConnectOptions>, "connect"> & {
  /** A ShmSender: a Sender with reserve()/commit() (ReservingSender) to build messages in the ring. */
  connect(address: Address, options?: ShmConnectOptions): Promise<ShmSender>;
  list(prefix?: string): Promise<string[]>;
  removeStale(prefix?: string): Promise<string[]>;
} = { descriptor: shmDescriptor, named, listen, connect, list, removeStale };
export default shmTransport;
