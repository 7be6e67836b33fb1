import { existsSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { SOCKET_LIMITS, ChannelError, DEFAULT_PREFIX, UNIX_PATH_MAX, fromSystemError, namedResources, removeOnExit, removedNames, uniqueName, validateName, validatePrefix, type Address, type ConnectOptions, type DuplexCapability, type ListenOptions, type MechanismDescriptor, type Receiver, type Sender, type Transport } from "@ipc-sampler/core";
import { StreamReceiver, StreamSender, socketFd } from "@ipc-sampler/core/stream";
import { BIND_DIR_EXTRA, LOCK_SUFFIX, bindSocketFileWithMode, holdOwnerLock, peerCredentials, readSpin, socketSendBuffer, socketFileKind } from "@ipc-sampler/posix";
import { attachAdmitted } from "./admit.js";
import { connectWithRetry } from "./connect.js";
import { duplexListen, duplexOver, type ListenHooks } from "./duplex.js";
import { acceptWithHandshake, answerHandshake, validateAcceptOptions, type Secret } from "./handshake.js";

export const SOCKET_MAX_MESSAGE = 16 * 1024 * 1024;

export const udsDescriptor: MechanismDescriptor = {
  id: "uds",
  mechanism: "Unix domain socket",
  kernelInterface: "socket(AF_UNIX, SOCK_STREAM)",
  persistence: "filesystem",
  naming: "file-system path",
  direction: "duplex",
  messageBoundaries: false,
  copiesPerMessage: 3,
  maxMessageSize: SOCKET_MAX_MESSAGE,
  relatedProcessesOnly: false,
  crossesMachines: false,
  summary: "A stream socket named by a path: unrelated processes on one machine connect to it.",
  kernelLimits: [...SOCKET_LIMITS, { meaning: "datagrams queued per Unix socket (not used by the stream socket)", unit: "count", from: { proc: "/proc/sys/net/unix/max_dgram_qlen" } }],
};

export interface UdsAddress extends Address {
  readonly transport: "uds";
  readonly path: string;
}

export interface UdsListenOptions extends ListenOptions {
  /** sockaddr_un.sun_path — unix(7). Full path of the socket file (at most 107 bytes). Default: a fresh name in os.tmpdir(). */
  path?: string;
  /** A bare name placed in `directory` (default os.tmpdir()). Ignored when `path` is given. */
  name?: string;
  directory?: string;
  /** File mode of the socket (default 0o600: only this user may connect). */
  mode?: number;
  /** SO_PEERCRED — unix(7). User ids whose processes may attach (default: this process's uid only), or "any" to rely on the file mode alone. */
  allowedUids?: readonly number[] | "any";
  /** A shared secret each producer must prove it knows (HMAC challenge; never sent). Optional for Unix sockets. */
  secret?: Secret;
  /** Most producers connected at once (default 1024); more are closed at accept. */
  maxConnections?: number;
  /** How long a new connection may take to complete the handshake (ms, default 5000); a silent one is closed and never counts. */
  handshakeTimeoutMs?: number;
  /** Busy-read before the event loop sleeps, when a caller waits and nothing is queued (µs; default 50, 0 on a one-CPU machine; 0 never spins). Adapts down when spinning does not pay, so an idle channel soon only sleeps. */
  spinUs?: number;
}

export interface UdsConnectOptions extends ConnectOptions {
  /** The receiver's shared secret, when it was given one. */
  secret?: Secret;
  /**
   * SO_SNDBUF — socket(7), unix(7). Bytes this producer may have written and
   * not yet read by the receiver (default 1 MiB; the kernel grants twice the
   * request, capped at /proc/sys/net/core/wmem_max; 0 keeps the system's
   * default, 208 KiB on most machines).
   */
  sendBufferBytes?: number;
}

/** A producer's default send buffer: 64 KiB messages move ~30% faster than with the system's 208 KiB. */
const DEFAULT_SEND_BUFFER_BYTES = 1024 * 1024;

function socketPath(options: UdsListenOptions): string {
  const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
  const dir = options.directory ?? tmpdir();
  let p: string;
  if (options.path !== undefined) {
    p = path.resolve(options.path);
    validateName(path.basename(p), "socket");
  } else {
    const name = options.name !== undefined ? validateName(options.name, "socket") : uniqueName(prefix) + ".sock";
    p = path.join(dir, name);
  }
  if (Buffer.byteLength(p) >= UNIX_PATH_MAX || Buffer.byteLength(path.dirname(p)) + BIND_DIR_EXTRA >= UNIX_PATH_MAX) {
    throw new ChannelError("EINVALIDNAME", `invalid socket path ${p}: longer than ${UNIX_PATH_MAX - 1} bytes (sun_path limit); use a shorter directory or name`, { resource: p });
  }
  return p;
}

async function bindSocketFile(server: Server, p: string, mode: number): Promise<void> {
  try {
    await bindSocketFileWithMode(p, mode, (tmp) =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(tmp, () => {
          server.off("error", reject);
          resolve();
        });
      }),
    );
  } catch (err) {
    server.close();
    throw err;
  }
}

/** The peer's uid from SO_PEERCRED, checked against the allowed list; a string is the reason to refuse. */
function vetPeer(allowed: readonly number[] | "any"): ((socket: Socket) => string | undefined) | undefined {
  if (allowed === "any") return undefined;
  return (socket) => {
    const fd = socketFd(socket);
    if (fd < 0) return "its credentials cannot be read";
    const cred = peerCredentials(fd);
    return allowed.includes(cred.uid) ? undefined : `its user (uid ${cred.uid}, pid ${cred.pid}) is not in allowedUids`;
  };
}

async function listen(options: UdsListenOptions = {}, hooks: ListenHooks = {}): Promise<Receiver> {
  const maxMessageSize = options.maxMessageSize ?? SOCKET_MAX_MESSAGE;
  const p = socketPath(options);
  if (existsSync(p)) {
    throw new ChannelError("EEXIST", `cannot create Unix socket ${p}: it already exists (remove it, or use removeStale() if its owner crashed)`, { resource: p });
  }
  validateAcceptOptions(options);
  const allowed = options.allowedUids ?? [process.getuid!()];
  if (allowed !== "any" && (!Array.isArray(allowed) || !allowed.every((u) => Number.isInteger(u) && u >= 0))) {
    throw new RangeError(`allowedUids must be an array of user ids or "any"; got ${JSON.stringify(allowed)}`);
  }
  // A socket file cannot be opened: its owner lock is on <path>.lock beside it (see @ipc-sampler/posix owner.ts).
  const owner = holdOwnerLock(p + LOCK_SUFFIX, { create: true });
  const server = createServer({ noDelay: true, pauseOnConnect: true });
  try {
    await bindSocketFile(server, p, options.mode ?? 0o600);
  } catch (err) {
    owner.release(true);
    throw fromSystemError((err as NodeJS.ErrnoException).code === "EADDRINUSE" ? Object.assign(err as Error, { code: "EEXIST" }) : err, "create Unix socket", p);
  }
  const unregister = removeOnExit(() => {
    unlinkSync(p);
    owner.release(true);
  });
  const address: UdsAddress = { transport: "uds", path: p, maxMessageSize };
  const receiver = new StreamReceiver(address, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    spin: readSpin(options.spinUs),
    reuseBatches: options.reuseBatches,
    describe: (i) => `Unix socket producer ${i} on ${p}`,
    admit: async () => ({ address, inherit: [], release: () => {} }),
    cleanup: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // server.close unlinks the path in Node; make sure either way.
      try {
        unlinkSync(p);
      } catch {
        // already gone
      }
      owner.release(true);
      unregister();
      hooks.closed?.();
    },
  });
  acceptWithHandshake(server, {
    secret: options.secret,
    maxConnections: options.maxConnections,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    vet: vetPeer(allowed),
    describe: `Unix socket ${p}`,
    admitted: (socket) => {
      if (receiver.closed) return socket.destroy();
      const carrier = attachAdmitted(receiver, socket);
      hooks.admitted?.(carrier);
      return carrier;
    },
  });
  return receiver;
}

async function connectSocket(address: Address, options: UdsConnectOptions, resume: boolean): Promise<[Socket, UdsAddress]> {
  const a = address as UdsAddress;
  if (a.transport !== "uds" || typeof a.path !== "string") throw new TypeError(`not a uds address: ${JSON.stringify(address)}`);
  const sendBuffer = options.sendBufferBytes ?? DEFAULT_SEND_BUFFER_BYTES;
  if (!Number.isSafeInteger(sendBuffer) || sendBuffer < 0 || sendBuffer > 2 ** 30) throw new RangeError(`sendBufferBytes must be an integer from 0 to ${2 ** 30}, got ${sendBuffer}`);
  const socket = await connectWithRetry({ path: a.path }, a.path, options.timeoutMs ?? 10_000);
  const fd = socketFd(socket);
  if (sendBuffer > 0 && fd >= 0) {
    try {
      socketSendBuffer(fd, sendBuffer);
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }
  await answerHandshake(socket, options.secret, a.path, undefined, resume);
  return [socket, a];
}

async function connect(address: Address, options: UdsConnectOptions = {}): Promise<Sender> {
  const [socket, a] = await connectSocket(address, options, true);
  return new StreamSender(socket, { maxMessageSize: a.maxMessageSize, resource: a.path });
}

const duplex: DuplexCapability<UdsListenOptions, UdsConnectOptions> = {
  listen: (options) => duplexListen((hooks) => listen(options, hooks), (a) => (a as UdsAddress).path),
  connect: async (address, options = {}) => {
    const [socket, a] = await connectSocket(address, options, false);
    return duplexOver(socket, a, a.path, options);
  },
};

/** The transport's socket files, `<prefix>….sock` in os.tmpdir() (or `directory`), each with its owner's `.lock` beside it. */
export const udsSocketFiles = socketFileKind("fs-node", "Unix socket", ".sock");

const named = namedResources(udsSocketFiles);

/** @deprecated named.list({ prefix, directory }). Socket files with this prefix. */
async function list(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  return named.list({ prefix, directory });
}

/** @deprecated named.removeStale({ prefix, directory }). Removes socket files no live receiver owns. */
async function removeStale(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  return removedNames(await named.removeStale({ prefix, directory }));
}

export const udsTransport: Transport<UdsListenOptions, UdsConnectOptions> = { descriptor: udsDescriptor, named, listen: (options) => listen(options), connect, duplex, list, removeStale };
