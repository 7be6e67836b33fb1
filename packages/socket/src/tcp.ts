import { createServer, type Socket } from "node:net";
import { TCP_LIMITS, ChannelError, fromSystemError, isLoopbackHost, type Address, type ConnectOptions, type DuplexCapability, type ListenOptions, type MechanismDescriptor, type Receiver, type Sender, type Transport } from "@ipc-sampler/core";
import { StreamReceiver, StreamSender } from "@ipc-sampler/core/stream";
import { readSpin } from "@ipc-sampler/posix";
import { attachAdmitted } from "./admit.js";
import { connectWithRetry } from "./connect.js";
import { duplexListen, duplexOver, type ListenHooks } from "./duplex.js";
import { acceptWithHandshake, answerHandshake, validateAcceptOptions, type Secret } from "./handshake.js";
import { SOCKET_MAX_MESSAGE } from "./uds.js";

export const tcpDescriptor: MechanismDescriptor = {
  id: "tcp",
  mechanism: "TCP socket",
  kernelInterface: "socket(AF_INET, SOCK_STREAM)",
  persistence: "process",
  naming: "host and port",
  direction: "duplex",
  messageBoundaries: false,
  copiesPerMessage: 3,
  maxMessageSize: SOCKET_MAX_MESSAGE,
  relatedProcessesOnly: false,
  crossesMachines: true,
  summary: "A stream socket on an IP address and port: with ZeroMQ over tcp://, one of the two that reach other machines.",
  kernelLimits: [...TCP_LIMITS],
};

export interface TcpAddress extends Address {
  readonly transport: "tcp";
  readonly host: string;
  readonly port: number;
}

export interface TcpListenOptions extends ListenOptions {
  /** Address to bind (default 127.0.0.1: loopback only). */
  host?: string;
  /** Port to bind (default 0: the kernel picks a free one). */
  port?: number;
  /**
   * A shared secret each producer must prove it knows (HMAC-SHA256 challenge
   * both ways, like Python multiprocessing's authkey; never sent). Required
   * to bind anything but loopback; recommended on loopback too, where any
   * local user can connect.
   */
  secret?: Secret;
  /** Most producers connected at once (default 1024); more are closed at accept. */
  maxConnections?: number;
  /** How long a new connection may take to complete the handshake (ms, default 5000); a silent one is closed and never counts. */
  handshakeTimeoutMs?: number;
  /** Busy-read before the event loop sleeps, when a caller waits and nothing is queued (µs; default 50, 0 on a one-CPU machine; 0 never spins). Adapts down when spinning does not pay, so an idle channel soon only sleeps. */
  spinUs?: number;
}

export interface TcpConnectOptions extends ConnectOptions {
  /** The receiver's shared secret (required when it has one). */
  secret?: Secret;
}

async function listen(options: TcpListenOptions = {}, hooks: ListenHooks = {}): Promise<Receiver> {
  const maxMessageSize = options.maxMessageSize ?? SOCKET_MAX_MESSAGE;
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be an integer from 0 to 65535; got ${port}`);
  validateAcceptOptions(options);
  if (!isLoopbackHost(host) && options.secret === undefined) {
    throw new ChannelError("EACCES", `refusing to listen on ${host}: any machine that reaches it could attach; pass a secret (e.g. { secret: randomBytes(32) }) or bind 127.0.0.1`, { resource: `${host}:${port}` });
  }
  const server = createServer({ noDelay: true, pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(fromSystemError(err, "listen on", `${host}:${port}`)));
    server.listen({ host, port, exclusive: true }, () => resolve());
  });
  const bound = server.address();
  const actualPort = typeof bound === "object" && bound ? bound.port : port;
  const address: TcpAddress = { transport: "tcp", host, port: actualPort, maxMessageSize };
  const receiver = new StreamReceiver(address, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    spin: readSpin(options.spinUs),
    reuseBatches: options.reuseBatches,
    describe: (i) => `TCP producer ${i} on ${host}:${actualPort}`,
    admit: async () => ({ address, inherit: [], release: () => {} }),
    cleanup: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      hooks.closed?.();
    },
  });
  acceptWithHandshake(server, {
    secret: options.secret,
    maxConnections: options.maxConnections,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    describe: `TCP ${host}:${actualPort}`,
    admitted: (socket) => {
      if (receiver.closed) return socket.destroy();
      socket.setNoDelay(true);
      const carrier = attachAdmitted(receiver, socket);
      hooks.admitted?.(carrier);
      return carrier;
    },
  });
  return receiver;
}

async function connectSocket(address: Address, options: TcpConnectOptions, resume: boolean): Promise<[Socket, TcpAddress, string]> {
  const a = address as TcpAddress;
  if (a.transport !== "tcp" || typeof a.host !== "string" || !Number.isInteger(a.port)) throw new TypeError(`not a tcp address: ${JSON.stringify(address)}`);
  const resource = `${a.host}:${a.port}`;
  const socket = await connectWithRetry({ host: a.host, port: a.port, noDelay: true }, resource, options.timeoutMs ?? 10_000);
  await answerHandshake(socket, options.secret, resource, undefined, resume);
  return [socket, a, resource];
}

async function connect(address: Address, options: TcpConnectOptions = {}): Promise<Sender> {
  const [socket, a, resource] = await connectSocket(address, options, true);
  return new StreamSender(socket, { maxMessageSize: a.maxMessageSize, resource });
}

const duplex: DuplexCapability<TcpListenOptions, TcpConnectOptions> = {
  listen: (options) => duplexListen((hooks) => listen(options, hooks), (a) => `${(a as TcpAddress).host}:${(a as TcpAddress).port}`),
  connect: async (address, options = {}) => {
    const [socket, a, resource] = await connectSocket(address, options, false);
    return duplexOver(socket, a, resource, options);
  },
};

export const tcpTransport: Transport<TcpListenOptions, TcpConnectOptions> = { descriptor: tcpDescriptor, listen: (options) => listen(options), connect, duplex };
