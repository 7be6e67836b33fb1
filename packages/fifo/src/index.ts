import { closeSync, constants, openSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PIPE_LIMITS, ChannelError, attachWithRetry, DEFAULT_PREFIX, MAX_PACKET_PRODUCERS, fdIsFifo, fromSystemError, namedResources, pathIsFifo, removedNames, removeOnExit, uniqueName, validateName, validatePrefix, type Address, type ConnectOptions, type ListenOptions, type MechanismDescriptor, type Receiver, type Sender, type Transport } from "@ipc-sampler/core";
import { claimPeerSlot, fileNodeKind, growPipe, lockOwner, mkfifo } from "@ipc-sampler/posix";
import { FifoReceiver } from "./receiver.js";
import { FifoSender } from "./sender.js";

export { PACKET_BYTES } from "./protocol.js";

/** Default largest message: 16 MiB, split into PIPE_BUF packets and reassembled. */
export const FIFO_MAX_MESSAGE = 16 * 1024 * 1024;
/** Largest `maxMessageSize` accepted (batch offsets are 32-bit). */
export const FIFO_MAX_MESSAGE_LIMIT = 0x7fffffff;
const FIFO_SUFFIX = ".fifo";

export const fifoDescriptor: MechanismDescriptor = {
  id: "fifo",
  mechanism: "named pipe (FIFO)",
  kernelInterface: "mkfifo(3)",
  persistence: "filesystem",
  naming: "file-system path",
  direction: "one-way",
  messageBoundaries: false,
  copiesPerMessage: 3,
  maxMessageSize: FIFO_MAX_MESSAGE,
  relatedProcessesOnly: false,
  crossesMachines: false,
  summary: "A pipe with a name in the file system: unrelated processes open the path and share one kernel buffer.",
  kernelLimits: [...PIPE_LIMITS],
};

export interface FifoAddress extends Address {
  readonly transport: "fifo";
  readonly path: string;
}

export interface FifoListenOptions extends ListenOptions {
  /** pathname — mkfifo(3). Full path of the FIFO. Default: a fresh name in `directory`. */
  path?: string;
  /** A bare name placed in `directory`. Ignored when `path` is given. */
  name?: string;
  /** Directory for `name` or a generated name (default os.tmpdir()). */
  directory?: string;
  /** mode — mkfifo(3). Permission bits, applied exactly (default 0o600: only this user may attach). */
  mode?: number;
  /** F_SETPIPE_SZ — fcntl(2). FIFO capacity to ask for, bounded by /proc/sys/fs/pipe-max-size (default 1 MiB). */
  pipeSize?: number;
  /** Busy-read before the event loop sleeps, when a caller waits and nothing is queued (µs; default 50, 0 on a one-CPU machine; 0 never spins). Adapts down when spinning does not pay, so an idle channel soon only sleeps. */
  spinUs?: number;
}

function fifoPath(options: FifoListenOptions): string {
  const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
  if (options.path !== undefined) {
    const p = path.resolve(options.path);
    validateName(path.basename(p), "FIFO");
    return p;
  }
  const name = options.name !== undefined ? validateName(options.name, "FIFO") : uniqueName(prefix) + FIFO_SUFFIX;
  return path.join(options.directory ?? tmpdir(), name);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * Creates the FIFO (exclusive, mode 0600), opens its read end without
 * blocking, and holds a write end of its own so the FIFO never reports end of
 * file (or POLLHUP) between producers.
 */
async function listen(options: FifoListenOptions = {}): Promise<Receiver> {
  const maxMessageSize = options.maxMessageSize ?? FIFO_MAX_MESSAGE;
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > FIFO_MAX_MESSAGE_LIMIT) {
    throw new RangeError(`maxMessageSize must be an integer from 0 to ${FIFO_MAX_MESSAGE_LIMIT}; got ${maxMessageSize}`);
  }
  const mode = options.mode ?? 0o600;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new RangeError(`mode must be permission bits from 0 to 0o777; got ${mode}`);
  const p = fifoPath(options);
  mkfifo(p, mode);
  const unregister = removeOnExit(() => unlinkSync(p));
  let readFd = -1;
  let writeFd = -1;
  try {
    readFd = openSync(p, constants.O_RDONLY | constants.O_NONBLOCK);
    writeFd = openSync(p, constants.O_WRONLY | constants.O_NONBLOCK);
    if (!fdIsFifo(readFd)) throw new ChannelError("EPROTO", `cannot listen on ${p}: it was replaced by something that is not a FIFO`, { resource: p });
    // The read end holds the FIFO's owner lock while the receiver lives (see @ipc-sampler/posix owner.ts).
    lockOwner(readFd, p);
  } catch (err) {
    if (readFd >= 0) closeQuietly(readFd);
    if (writeFd >= 0) closeQuietly(writeFd);
    unregister();
    try {
      unlinkSync(p);
    } catch {
      // gone already
    }
    throw fromSystemError(err, "open FIFO", p);
  }
  const pipeSize = growPipe(readFd, options.pipeSize ?? 1024 * 1024);
  const address: FifoAddress = { transport: "fifo", path: p, maxMessageSize };
  return new FifoReceiver(address, {
    path: p,
    readFd,
    writeFd,
    pipeSize,
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    spinUs: options.spinUs,
    reuseBatches: options.reuseBatches,
    cleanup: () => {
      try {
        unlinkSync(p);
      } catch {
        // removed by someone else
      }
      unregister();
    },
  });
}

/**
 * Opens the FIFO's write end without blocking: ENXIO (no reader yet) and
 * ENOENT (not created yet) are retried until `timeoutMs`, then ETIMEDOUT.
 */
async function connect(address: Address, options: ConnectOptions = {}): Promise<Sender> {
  const a = address as FifoAddress;
  if (a.transport !== "fifo" || typeof a.path !== "string") throw new TypeError(`not a fifo address: ${JSON.stringify(address)}`);
  if (!Number.isInteger(a.maxMessageSize) || a.maxMessageSize < 0) throw new TypeError(`fifo address has no valid maxMessageSize: ${JSON.stringify(address)}`);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fd = await attachWithRetry(() => openSync(a.path, constants.O_WRONLY | constants.O_NONBLOCK), {
    timeoutMs,
    absent: (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      return code === "ENXIO" || code === "ENOENT" ? code : undefined;
    },
    timedOut: (code, err) => new ChannelError("ETIMEDOUT", `cannot attach to FIFO ${a.path}: no receiver within ${timeoutMs} ms (${code})`, { errno: code, syscall: "open", resource: a.path, cause: err }),
    failed: (err) => fromSystemError(err, "attach to FIFO", a.path),
  });
  if (!fdIsFifo(fd)) {
    closeSync(fd);
    throw new ChannelError("EPROTO", `cannot attach to ${a.path}: it is not a FIFO`, { resource: a.path });
  }
  // Liveness: a write lock on one byte of the FIFO per producer (1 + its
  // slot), taken on this descriptor; the kernel drops it when this process
  // dies, and the receiver asks for it on its read end. No pid is involved.
  let slot: number;
  try {
    slot = claimPeerSlot(fd, MAX_PACKET_PRODUCERS);
  } catch (err) {
    closeQuietly(fd);
    throw fromSystemError(err, "lock a producer slot of FIFO", a.path);
  }
  if (slot < 0) {
    closeQuietly(fd);
    throw new ChannelError("ELIMIT", `cannot attach to FIFO ${a.path}: ${MAX_PACKET_PRODUCERS} producers are attached already`, { resource: a.path });
  }
  try {
    return new FifoSender(fd, a.path, a.maxMessageSize, slot + 1);
  } catch (err) {
    closeQuietly(fd);
    throw err;
  }
}

/** The transport's FIFOs: `<prefix>…<FIFO_SUFFIX>` in os.tmpdir() (or `directory`), owned through the receiver's read end. */
export const fifoFiles = fileNodeKind({
  kind: "fs-node",
  noun: "FIFO",
  suffix: FIFO_SUFFIX,
  isNode: (file) => {
    try {
      return pathIsFifo(file);
    } catch {
      return false;
    }
  },
  make: (file, mode) => {
    mkfifo(file, mode);
    return { close() {} };
  },
  lockBeside: false,
});

const named = namedResources(fifoFiles);

/** @deprecated named.list({ prefix, directory }). FIFOs whose name starts with `prefix`. */
async function list(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  return named.list({ prefix, directory });
}

/** @deprecated named.removeStale({ prefix, directory }). Removes FIFOs with this prefix that no live receiver owns; returns their paths. */
async function removeStale(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  return removedNames(await named.removeStale({ prefix, directory }));
}

export const fifoTransport: Transport<FifoListenOptions> = { descriptor: fifoDescriptor, named, listen, connect, list, removeStale };
export default fifoTransport;
export { FifoReceiver, type FifoReceiverOptions } from "./receiver.js";
export { FifoSender } from "./sender.js";
