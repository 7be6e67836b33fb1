import { existsSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  ChannelError,
  DEFAULT_PREFIX,
  UNIX_PATH_MAX,
  fromSystemError,
  namedResources,
  removeOnExit,
  removedNames,
  uniqueName,
  validateName,
  validatePrefix,
  type Address,
  type ConnectOptions,
  type ListenOptions,
  type MechanismDescriptor,
  type Receiver,
  type Sender,
  type Transport,
} from "@ipc-sampler/core";
import { StreamReceiver, StreamSender } from "@ipc-sampler/core/stream";
import { LOCK_SUFFIX, holdOwnerLock, socketFileKind } from "@ipc-sampler/posix";
import { connectWithRetry } from "./connect.js";

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
}

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
  if (Buffer.byteLength(p) >= UNIX_PATH_MAX) {
    throw new ChannelError("EINVALIDNAME", `invalid socket path ${p}: longer than ${UNIX_PATH_MAX - 1} bytes (sun_path limit); use a shorter directory or name`, { resource: p });
  }
  return p;
}

function listenServer(server: Server, p: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    // bind(2) creates the socket file with the umask applied; the bind runs
    // synchronously inside listen(), so the narrowed umask covers only it.
    const old = process.umask(0o777 & ~mode);
    try {
      server.listen(p, () => {
        server.off("error", reject);
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
}

async function listen(options: UdsListenOptions = {}): Promise<Receiver> {
  const maxMessageSize = options.maxMessageSize ?? SOCKET_MAX_MESSAGE;
  const p = socketPath(options);
  if (existsSync(p)) {
    throw new ChannelError("EEXIST", `cannot create Unix socket ${p}: it already exists (remove it, or use removeStale() if its owner crashed)`, { resource: p });
  }
  // A socket file cannot be opened: its owner lock is on <path>.lock beside it (see @ipc-sampler/posix owner.ts).
  const owner = holdOwnerLock(p + LOCK_SUFFIX, { create: true });
  const server = createServer({ noDelay: true, pauseOnConnect: false });
  try {
    await listenServer(server, p, options.mode ?? 0o600);
  } catch (err) {
    owner.release(true);
    throw fromSystemError(err, "create Unix socket", p);
  }
  const unregister = removeOnExit(() => {
    unlinkSync(p);
    owner.release(true);
  });
  const address: UdsAddress = { transport: "uds", path: p, maxMessageSize };
  const receiver = new StreamReceiver(address, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
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
    },
  });
  server.on("connection", (socket) => {
    if (receiver.closed) return socket.destroy();
    receiver.attach(socket);
  });
  return receiver;
}

async function connect(address: Address, options: ConnectOptions = {}): Promise<Sender> {
  const a = address as UdsAddress;
  if (a.transport !== "uds" || typeof a.path !== "string") throw new TypeError(`not a uds address: ${JSON.stringify(address)}`);
  const socket = await connectWithRetry({ path: a.path }, a.path, options.timeoutMs ?? 10_000);
  return new StreamSender(socket, { maxMessageSize: a.maxMessageSize, resource: a.path });
}

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

export const udsTransport: Transport<UdsListenOptions> = { descriptor: udsDescriptor, named, listen, connect, list, removeStale };
