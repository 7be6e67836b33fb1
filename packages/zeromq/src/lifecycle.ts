import { existsSync, unlinkSync } from "node:fs";
import { BIND_DIR_EXTRA, LOCK_SUFFIX, bindSocketFileWithMode, holdOwnerLock, holdPeerSlot, peerSlotHeld, socketFileKind, type OwnerLock } from "@ipc-sampler/posix";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { ChannelError, isLoopbackHost, DEFAULT_PREFIX, FRAME_HEADER_BYTES, MAX_PACKET_PRODUCERS, UNIX_PATH_MAX, fromSystemError, namedResources, removeOnExit, removedNames, uniqueName, validateName, validatePrefix, type Address, type Receiver, type Sender } from "@ipc-sampler/core";
import { Dealer, Pull, Push, Router, curveKeyPair } from "zeromq";
import { checkSecret, serverKeys } from "./curve.js";
import type { ZeromqAddress, ZeromqConnectOptions, ZeromqListenOptions } from "./index.js";
import { ZeromqReceiver } from "./receiver.js";
import { ZeromqSender } from "./sender.js";
import { ACK_LINGER_MS, CHUNK, DEFAULT_HWM, DEFAULT_LINGER_MS, DEFAULT_RCV_HWM, HEADER_BYTES, JS_HIGH_WATER, ZEROMQ_MAX_MESSAGE, ZEROMQ_MAX_MESSAGE_CEILING, ackRoutingId, answered, helloMessage, positiveInt } from "./wire.js";

// Binding, connecting and the ipc socket files' lifecycle.

const IPC_SUFFIX = ".zmq";

const IPC_ACK_SUFFIX = ".ack.zmq";

function checkIpcPath(p: string): string {
  // bindIpc binds at "<dir>/.bXXXXXX/s" first: that must fit as well.
  if (Buffer.byteLength(p) >= UNIX_PATH_MAX || Buffer.byteLength(path.dirname(p)) + BIND_DIR_EXTRA >= UNIX_PATH_MAX) {
    throw new ChannelError("EINVALIDNAME", `invalid ipc socket path ${p}: longer than ${UNIX_PATH_MAX - 1} bytes (sun_path limit); use a shorter directory or name`, { resource: p });
  }
  if (existsSync(p)) {
    throw new ChannelError("EEXIST", `cannot create ZeroMQ ipc socket ${p}: it already exists (remove it, or use removeStale() if its owner crashed)`, { resource: p });
  }
  return p;
}

/** The data socket's file and the acknowledgement socket's file beside it. */
function ipcPaths(options: ZeromqListenOptions, prefix: string): [string, string] {
  let p: string;
  if (options.listen && options.listen.startsWith("ipc://")) {
    p = path.resolve(options.listen.slice("ipc://".length));
    validateName(path.basename(p), "ipc socket");
  } else {
    p = path.join(options.directory ?? tmpdir(), uniqueName(prefix, "zmq") + IPC_SUFFIX);
  }
  const ack = p.endsWith(IPC_SUFFIX) ? p.slice(0, -IPC_SUFFIX.length) + IPC_ACK_SUFFIX : p + ".ack";
  return [checkIpcPath(p), checkIpcPath(ack)];
}

function tcpEndpoint(spec: string): string {
  if (spec === "tcp") return "tcp://127.0.0.1:*";
  const m = /^tcp:\/\/(.+):(\d+|\*)$/.exec(spec);
  if (!m) throw new TypeError(`listen must be "ipc", "tcp", "ipc:///path" or "tcp://host:port"; got ${JSON.stringify(spec)}`);
  const port = m[2] === "*" ? "*" : Number(m[2]);
  if (port !== "*" && (port > 65535 || port < 0)) throw new RangeError(`port must be an integer from 0 to 65535; got ${port}`);
  return `tcp://${m[1]}:${port === 0 ? "*" : port}`;
}

/** zmq_bind(3) to a socket file with exactly `mode` (see bindSocketFileWithMode). */
function bindIpc(socket: Pull | Router, file: string, mode: number): string {
  bindSocketFileWithMode(file, mode, (tmp) => socket.bindSync(`ipc://${tmp}`));
  return `ipc://${file}`;
}

/** zmq_bind(3) to a tcp endpoint; returns the endpoint producers should connect to. */
async function bindTcp(socket: Pull | Router, bindTo: string, advertiseHost: string | undefined): Promise<string> {
  await socket.bind(bindTo);
  const endpoint = socket.lastEndpoint ?? bindTo;
  const m = /^tcp:\/\/(.+):(\d+)$/.exec(endpoint);
  if (m && (m[1] === "0.0.0.0" || m[1] === "[::]" || m[1] === "*")) return `tcp://${advertiseHost ?? hostname()}:${m[2]}`;
  return endpoint;
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

export async function listen(options: ZeromqListenOptions = {}): Promise<Receiver> {
  checkSecret(options.secret);
  const maxMessageSize = options.maxMessageSize ?? ZEROMQ_MAX_MESSAGE;
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > ZEROMQ_MAX_MESSAGE_CEILING) {
    throw new RangeError(`maxMessageSize must be an integer from 0 to ${ZEROMQ_MAX_MESSAGE_CEILING}; got ${maxMessageSize}`);
  }
  const prefix = validatePrefix(options.prefix ?? DEFAULT_PREFIX);
  const spec = options.listen ?? "ipc";
  const isIpc = spec === "ipc" || spec.startsWith("ipc://");
  const rcvHwm = positiveInt(options.rcvHwm, DEFAULT_RCV_HWM, "rcvHwm");
  const pull = new Pull({
    receiveHighWaterMark: rcvHwm,
    // ZMQ_MAXMSGSIZE: a peer sending more than one batch can hold is cut off.
    maxMessageSize: Math.max(CHUNK, HEADER_BYTES + FRAME_HEADER_BYTES + maxMessageSize),
    // No ZMTP heartbeats from the receiving side: a PING written to a
    // producer that has exited fails, and libzmq then drops the connection
    // with whatever it had not yet read (its pipe was full). Silence is
    // caught by the producers' own heartbeat batches instead (GRACE_MS).
  });
  // Answers to goodbyes. Mandatory: an answer to a DEALER the ROUTER has not
  // registered yet fails (EHOSTUNREACH) and is retried instead of dropped.
  // sendTimeout 0: a send never waits, so answers never queue behind each other.
  const router = new Router({ mandatory: true, sendTimeout: 0, linger: ACK_LINGER_MS, maxMessageSize: 1024 });
  if (options.secret !== undefined) {
    const keys = serverKeys(options.secret);
    for (const s of [pull, router]) {
      s.curveServer = true;
      s.curveSecretKey = keys.secretKey;
      s.curvePublicKey = keys.publicKey;
    }
  }
  let endpoint: string;
  let ackEndpoint: string;
  const files: string[] = [];
  const locks: OwnerLock[] = [];
  // Socket files cannot be opened: each one's owner lock is on <file>.lock beside it (see @ipc-sampler/posix owner.ts).
  const dropFiles = () => {
    files.forEach(unlinkQuietly);
    for (const l of locks) l.release(true);
  };
  try {
    if (isIpc) {
      const [file, ackFile] = ipcPaths(options, prefix);
      const mode = options.mode ?? 0o600;
      locks.push(holdOwnerLock(file + LOCK_SUFFIX, { create: true }));
      endpoint = bindIpc(pull, file, mode);
      files.push(file);
      locks.push(holdOwnerLock(ackFile + LOCK_SUFFIX, { create: true }));
      ackEndpoint = bindIpc(router, ackFile, mode);
      files.push(ackFile);
    } else {
      const bindTo = tcpEndpoint(spec);
      const host = /^tcp:\/\/(.+):(\d+|\*)$/.exec(bindTo)![1]!;
      if (!isLoopbackHost(host) && options.secret === undefined) {
        throw new ChannelError("EACCES", `refusing to bind ${bindTo}: any machine that reaches it could attach; pass a secret (e.g. { secret: randomBytes(32) }: CURVE with keys derived from it) or bind 127.0.0.1`, { resource: bindTo });
      }
      endpoint = await bindTcp(pull, bindTo, options.advertiseHost);
      ackEndpoint = await bindTcp(router, bindTo.replace(/:(\d+|\*)$/, ":*"), options.advertiseHost);
    }
  } catch (err) {
    for (const s of [pull, router]) {
      s.linger = 0;
      s.close();
    }
    dropFiles();
    if (err instanceof ChannelError || err instanceof TypeError || err instanceof RangeError) throw err;
    throw fromSystemError(err, "bind ZeroMQ socket to", files[0] ?? spec);
  }
  const unregister = files.length ? removeOnExit(dropFiles) : () => {};
  const address: ZeromqAddress = { transport: "zeromq", endpoint, ackEndpoint, maxMessageSize, ...(options.secret !== undefined ? { curve: true } : {}) };
  // Over ipc://, producers hold a peer slot of the data socket's lock file; the receiver asks on its own descriptor of it.
  const dataLock = locks[0];
  const slotHeld = dataLock ? (slot: number) => peerSlotHeld(dataLock.fd, slot) : undefined;
  return new ZeromqReceiver(address, pull, router, slotHeld, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    cleanup: () => {
      // libzmq unlinks them too, later, on its I/O thread.
      dropFiles();
      unregister();
    },
  });
}

export async function connect(address: Address, options: ZeromqConnectOptions = {}): Promise<Sender> {
  const a = address as ZeromqAddress;
  const endpointLike = (e: unknown) => typeof e === "string" && /^(ipc|tcp):\/\//.test(e);
  if (a.transport !== "zeromq" || !endpointLike(a.endpoint) || (a.ackEndpoint !== undefined && !endpointLike(a.ackEndpoint))) {
    throw new TypeError(`not a zeromq address: ${JSON.stringify(address)}`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  // Over ipc://, this producer's liveness: a peer slot of the lock file beside the data socket file (absent: heartbeats alone).
  const slotLock = a.endpoint.startsWith("ipc://") ? holdPeerSlot(a.endpoint.slice("ipc://".length) + LOCK_SUFFIX, MAX_PACKET_PRODUCERS) : undefined;
  const push = new Push({
    sendHighWaterMark: positiveInt(options.sndHwm, DEFAULT_HWM, "sndHwm"),
    // Queue only on a completed connection: no silent queue towards a receiver that is not there.
    immediate: true,
    linger: 0,
    // No ZMTP heartbeats either way: the receiver answers a PING with a
    // PONG, and a PONG written to a producer that has just exited fails and
    // makes libzmq drop the connection with its unread last batches.
  });
  const session = (Math.random() * 0x100000000) >>> 0;
  const ack = typeof a.ackEndpoint === "string" ? new Dealer({ routingId: ackRoutingId(process.pid, session), linger: 0 }) : undefined;
  const sockets = ack ? [push, ack] : [push];
  const closeAll = () => {
    for (const s of sockets) s.close();
    slotLock?.release();
  };
  checkSecret(options.secret);
  if (a.curve === true && options.secret === undefined) {
    closeAll();
    throw new ChannelError("EACCES", `cannot connect to ${a.endpoint}: the receiver requires a shared secret; pass { secret } to connect`, { resource: a.endpoint });
  }
  if (options.secret !== undefined) {
    const server = serverKeys(options.secret).publicKey;
    for (const s of sockets) {
      const mine = curveKeyPair();
      s.curveServerKey = server;
      s.curvePublicKey = mine.publicKey;
      s.curveSecretKey = mine.secretKey;
    }
  }
  const handshakes = sockets.map((s) => new Promise<void>((resolve) => s.events.on("handshake", () => resolve())));
  try {
    push.connect(a.endpoint);
    ack?.connect(a.ackEndpoint!);
  } catch (err) {
    closeAll();
    throw fromSystemError(err, "connect to", a.endpoint);
  }
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  // With an answer channel, the receiver registers this producer (and answers)
  // before connect() resolves, so it knows whom to report lost even if this
  // process dies with its first batches still inside libzmq.
  const registered = ack
    ? () =>
        ack
          .send(helloMessage(process.pid, session, slotLock?.slot))
          .then(() => answered(ack))
          .then(() => true)
    : () => true;
  const ok = await Promise.race([Promise.all(handshakes).then(registered), expired]).catch((err: unknown) => {
    clearTimeout(timer);
    closeAll();
    throw fromSystemError(err, "connect to", a.endpoint);
  });
  clearTimeout(timer);
  if (!ok) {
    closeAll();
    const why = a.curve === true ? " (with CURVE, a wrong secret looks like this)" : "";
    throw new ChannelError("ETIMEDOUT", `cannot connect to ${a.endpoint}: no receiver answered within ${timeoutMs} ms${why}`, { syscall: "connect", resource: a.endpoint });
  }
  const sender = new ZeromqSender(
    push,
    ack,
    session,
    a.endpoint,
    a.maxMessageSize,
    options.highWaterMark ?? JS_HIGH_WATER,
    options.lingerMs ?? DEFAULT_LINGER_MS,
  );
  sender.hello(slotLock);
  return sender;
}

/** The ipc socket files, `<prefix>….zmq` (data) and `….ack.zmq` in os.tmpdir() (or `directory`), each with its owner's `.lock` beside it. */
export const zeromqIpcFiles = socketFileKind("zmq-ipc", "ZeroMQ ipc socket", IPC_SUFFIX, (file, mode) => {
  const pull = new Pull();
  try {
    bindIpc(pull, file, mode);
  } catch (err) {
    pull.close();
    throw fromSystemError(err, "bind ZeroMQ socket to", file);
  }
  return {
    close() {
      pull.linger = 0;
      pull.close();
    },
  };
});

export const named = namedResources(zeromqIpcFiles);

/** @deprecated named.list({ prefix, directory }). ipc socket files with this prefix. */
export async function list(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  return named.list({ prefix, directory });
}

/** @deprecated named.removeStale({ prefix, directory }). Removes ipc socket files no live receiver owns. */
export async function removeStale(prefix = DEFAULT_PREFIX, directory = tmpdir()): Promise<string[]> {
  return removedNames(await named.removeStale({ prefix, directory }));
}
