import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { MAX_MAP_COUNT, ChannelError, DEFAULT_PREFIX, namedResources, removeOnExit, removedNames, waitForResource, uniqueName, validatePrefix, type Address, type ConnectOptions, type ListenOptions, type MechanismDescriptor, type Receiver, type Sender, type Transport } from "@ipc-sampler/core";
import { claimSlot, createSegment, futexWake, holdOwnerLock, journals, openSegment } from "@ipc-sampler/posix";
import { ACTIVE, CLAIMED, CTL_FILE, CTL_MAGIC, C_CLOSED, C_DOORBELL, C_MAGIC, C_MAX_MESSAGE, C_NEXT_STREAM, C_OWNER_PID, C_SEGMENT_BYTES, C_SLOTS, C_VERSION, FREE, SL_PID, SL_STATE, SL_STREAM, VERSION, ctlBytes, maxMessageFor, segmentFor, slotWord } from "./layout.js";
import { JournalReceiver } from "./receiver.js";
import { JournalSender } from "./sender.js";

export { JournalReceiver, type JournalPosition, type JournalReceiverOptions } from "./receiver.js";
export { JournalSender, type JournalSenderOptions } from "./sender.js";
export { Journal, openJournal, type JournalRecord, type ReplayOptions, type StreamSummary } from "./journal.js";

/** Default segment file of a durable journal (`directory` given): 32 MiB, so its default largest message is just under 32 MiB. */
export const MMAP_DEFAULT_SEGMENT_BYTES = 32 * 1024 * 1024;
/**
 * Default segment file of a temporary journal: 8 MiB, or what a larger
 * `maxMessageSize` needs. Its producer writes within retainSegments + 2
 * files (write() false beyond), and smaller files keep that working set in
 * the caches (64 KiB records 3.4 -> 6.9 GB/s, 1 MiB 3.8 -> 5.6 GB/s here).
 */
export const MMAP_TEMPORARY_SEGMENT_BYTES = 8 * 1024 * 1024;
const DEFAULT_SLOTS = 16;
/** A temporary journal is removed on close: by default it keeps only what a following consumer needs, and recycles the rest. */
const TEMPORARY_RETAIN = 2;
const TAG = "mmap";

export const mmapDescriptor: MechanismDescriptor = {
  id: "mmap",
  mechanism: "memory-mapped file",
  kernelInterface: "mmap(2) of regular files + msync(2) + futex(2)",
  persistence: "filesystem",
  naming: "file-system path",
  direction: "one-way",
  messageBoundaries: false,
  copiesPerMessage: 1,
  maxMessageSize: maxMessageFor(MMAP_TEMPORARY_SEGMENT_BYTES),
  relatedProcessesOnly: false,
  crossesMachines: false,
  summary: "A replayable journal: producers append checksummed records to mapped segment files, the consumer follows them in place; records survive a process crash, and a power loss once synced.",
  kernelLimits: [
    { meaning: "mapping granularity: the journal grows by whole segment files, each a multiple of 4096 bytes", unit: "bytes", from: { getconf: "PAGESIZE" } },
    MAX_MAP_COUNT,
    { meaning: "age (1/100 s) after which the kernel's flusher writes a dirty page back on its next pass, without a sync", unit: "count", from: { proc: "/proc/sys/vm/dirty_expire_centisecs" } },
  ],
};

export interface MmapAddress extends Address {
  readonly transport: "mmap";
  readonly directory: string;
  readonly segmentBytes: number;
  readonly slots: number;
  readonly syncEvery: number;
  readonly checksum: boolean;
  /** The receiver's retainSegments: producers recycle the files it retires (absent: every file is kept). */
  readonly retainSegments?: number;
}

export interface MmapListenOptions extends ListenOptions {
  /** The journal directory. Given: it is kept on close (a durable journal; must not hold a journal already). Default: a fresh directory in os.tmpdir(), removed on close. */
  directory?: string;
  /** Keep the journal on close (default: true with `directory`, false without). */
  keep?: boolean;
  /** ftruncate(2) size of each segment file (default 32 MiB with `directory`; for a temporary journal 8 MiB, or what `maxMessageSize` needs); a record never spans two. */
  segmentBytes?: number;
  /**
   * msync(MS_SYNC) — msync(2): each producer calls `sync()` after every N
   * records, at each segment end and at close (default 0: only when the
   * producer calls `sync()` itself). Committed records survive a crash of
   * any process either way (they are in the page cache); synced ones also
   * survive a power loss or kernel crash, file names included.
   */
  syncEvery?: number;
  /** Keep only the newest N segment files of each stream once the consumer has moved past them; older ones are recycled as new segments (default: Infinity, keep all, with `directory`; 2 for a temporary journal). */
  retainSegments?: number;
  /** Checksum each payload (default true; replay verifies it). */
  checksum?: boolean;
  /** Producers attached at once (default 16). */
  maxProducers?: number;
  /** Busy-wait before sleeping on the futex (µs; default 50, or 0 when the process may only run on one CPU; 0 never spins). Adapts down when spinning does not pay. */
  spinUs?: number;
  /** Opt-in busy-poll: while messages arrived within the last `busyPollMs` ms, never sleep, spin and yield to the event loop instead (a whole CPU while traffic flows; default 0: off). */
  busyPollMs?: number;
  /** File mode of the control and segment files (default 0o600). */
  mode?: number;
}

async function listen(options: MmapListenOptions = {}): Promise<Receiver> {
  const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
  const temporary = options.directory === undefined;
  const wanted = options.maxMessageSize;
  const segmentBytes = options.segmentBytes ?? (temporary ? Math.max(MMAP_TEMPORARY_SEGMENT_BYTES, Number.isInteger(wanted) && wanted! > 0 ? segmentFor(wanted!) : 0) : MMAP_DEFAULT_SEGMENT_BYTES);
  if (!Number.isInteger(segmentBytes) || segmentBytes < 64 * 1024 || segmentBytes > 2 ** 30 || segmentBytes % 4096 !== 0) {
    throw new RangeError(`segmentBytes must be a multiple of 4096 from 64 KiB to 1 GiB; got ${segmentBytes}`);
  }
  const maxMessageSize = options.maxMessageSize ?? maxMessageFor(segmentBytes);
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > maxMessageFor(segmentBytes)) {
    throw new RangeError(`maxMessageSize must be an integer from 0 to ${maxMessageFor(segmentBytes)} for ${segmentBytes}-byte segments; got ${maxMessageSize}`);
  }
  const syncEvery = options.syncEvery ?? 0;
  if (!Number.isInteger(syncEvery) || syncEvery < 0) throw new RangeError(`syncEvery must be a non-negative integer; got ${syncEvery}`);
  const retainOption = options.retainSegments ?? (options.directory === undefined ? TEMPORARY_RETAIN : Infinity);
  if (retainOption !== Infinity && (!Number.isInteger(retainOption) || retainOption < 1)) throw new RangeError(`retainSegments must be a positive integer or Infinity (keep every file); got ${retainOption}`);
  const retain = retainOption === Infinity ? undefined : retainOption;
  const slots = options.maxProducers ?? DEFAULT_SLOTS;
  if (!Number.isInteger(slots) || slots < 1 || slots > 1024) throw new RangeError(`maxProducers must be an integer from 1 to 1024; got ${slots}`);
  const directory = path.resolve(options.directory ?? path.join(tmpdir(), uniqueName(prefix, TAG)));
  const keep = options.keep ?? !temporary;
  try {
    mkdirSync(directory, { recursive: !temporary, mode: 0o700 });
  } catch (err) {
    throw new ChannelError("EEXIST", `cannot create journal ${directory}: ${(err as Error).message}`, { resource: directory, cause: err });
  }
  // The receiver owns the journal directory while it runs (a lock the kernel drops when it dies; see @ipc-sampler/posix owner.ts).
  const owner = holdOwnerLock(directory);
  // Exclusive: a directory that already holds a journal is refused.
  let ctl;
  try {
    ctl = createSegment(CTL_FILE, ctlBytes(slots), { directory, mode: options.mode ?? 0o600 });
  } catch (err) {
    owner.release();
    throw err;
  }
  // The descriptor stays open: the receiver asks on it whether each producer's slot lock is held.
  const remove = () => {
    owner.release();
    rmSync(directory, { recursive: true, force: true });
  };
  const unregister = keep ? () => {} : removeOnExit(remove);
  const c = new Int32Array(ctl.buffer.buffer, ctl.buffer.byteOffset, ctl.buffer.length >>> 2);
  c[C_VERSION] = VERSION;
  c[C_OWNER_PID] = process.pid;
  c[C_SEGMENT_BYTES] = segmentBytes;
  c[C_MAX_MESSAGE] = maxMessageSize;
  c[C_SLOTS] = slots;
  Atomics.store(c, C_MAGIC, CTL_MAGIC);
  const address: MmapAddress = { transport: "mmap", directory, maxMessageSize, segmentBytes, slots, syncEvery, checksum: options.checksum ?? true, ...(retain !== undefined ? { retainSegments: retain } : {}) };
  return new JournalReceiver(address, ctl, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    spinUs: options.spinUs,
    busyPollMs: options.busyPollMs,
    retainSegments: retain,
    cleanup: () => {
      if (!keep) remove();
      owner.release();
      unregister();
    },
  });
}

async function connect(address: Address, options: ConnectOptions = {}): Promise<JournalSender> {
  const a = address as MmapAddress;
  if (a.transport !== "mmap" || typeof a.directory !== "string") throw new TypeError(`not an mmap address: ${JSON.stringify(address)}`);
  const ctl = await waitForResource("journal", a.directory, options.timeoutMs ?? 10_000, () => openSegment(CTL_FILE, undefined, { directory: a.directory }));
  const c = new Int32Array(ctl.buffer.buffer, ctl.buffer.byteOffset, ctl.buffer.length >>> 2);
  if (Atomics.load(c, C_MAGIC) !== CTL_MAGIC || c[C_VERSION] !== VERSION || c[C_SLOTS] !== a.slots) {
    ctl.close();
    throw new ChannelError("EPROTO", `cannot attach to journal ${a.directory}: its control file is not one this version understands`, { resource: a.directory });
  }
  // The receiver's mapping of the control file holds its owner lock: no pid is trusted.
  if (Atomics.load(c, C_CLOSED) !== 0 || !ctl.ownerAlive()) {
    ctl.close();
    throw new ChannelError("EPEERGONE", `cannot attach to journal ${a.directory}: the receiver went away`, { resource: a.directory });
  }
  const slot = claimSlot(a.slots, ctl, (s) => Atomics.compareExchange(c, slotWord(s, SL_STATE), FREE, CLAIMED) === FREE);
  if (slot < 0) {
    ctl.close();
    throw new ChannelError("ELIMIT", `cannot attach to journal ${a.directory}: all ${a.slots} producer slots are in use`, { resource: a.directory });
  }
  Atomics.store(c, slotWord(slot, SL_PID), process.pid);
  const stream = Atomics.add(c, C_NEXT_STREAM, 1);
  let sender: JournalSender;
  try {
    sender = new JournalSender(ctl, a.directory, slot, stream, { segmentBytes: a.segmentBytes, maxMessageSize: a.maxMessageSize, syncEvery: a.syncEvery, checksum: a.checksum, retainSegments: a.retainSegments });
  } catch (err) {
    Atomics.store(c, slotWord(slot, SL_STATE), FREE);
    ctl.unlockSlot(slot);
    ctl.close();
    throw err;
  }
  Atomics.store(c, slotWord(slot, SL_STREAM), stream);
  Atomics.store(c, slotWord(slot, SL_STATE), ACTIVE);
  Atomics.add(c, C_DOORBELL, 1);
  futexWake(c, C_DOORBELL);
  return sender;
}

/** The temporary journal directories, `<prefix>mmap-…` in os.tmpdir() (or `directory`). */
const named = namedResources([journals, TAG]);

/** @deprecated named.list({ prefix, directory }). Temporary journal directories with this prefix. */
async function list(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  return named.list({ prefix, directory });
}

/** @deprecated named.removeStale({ prefix, directory }). Removes temporary journals no live receiver owns; a journal this user may not remove is skipped (reported by named.removeStale). */
async function removeStale(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  return removedNames(await named.removeStale({ prefix, directory }));
}

export const mmapTransport: Omit<Transport<MmapListenOptions>, "connect"> & {
  /** A JournalSender: a Sender with reserve()/commit() (ReservingSender) to build records in the segment. */
  connect(address: Address, options?: ConnectOptions): Promise<JournalSender>;
  list(prefix?: string, directory?: string): Promise<string[]>;
  removeStale(prefix?: string, directory?: string): Promise<string[]>;
} = { descriptor: mmapDescriptor, named, listen, connect, list, removeStale };
export default mmapTransport;
