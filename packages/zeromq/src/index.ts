import { SOCKET_LIMITS, type Address, type ConnectOptions, type ListenOptions, type MechanismDescriptor, type Transport } from "@ipc-sampler/core";
import { connect, list, listen, named, removeStale } from "./lifecycle.js";

export { zeromqIpcFiles } from "./lifecycle.js";
import { ZEROMQ_MAX_MESSAGE } from "./wire.js";

export { ZEROMQ_MAX_MESSAGE, ZEROMQ_MAX_MESSAGE_CEILING } from "./wire.js";

export const zeromqDescriptor: MechanismDescriptor = {
  id: "zeromq",
  mechanism: "ZeroMQ PUSH/PULL queue",
  kernelInterface: "socket(AF_UNIX | AF_INET, SOCK_STREAM) via libzmq",
  persistence: "process",
  naming: "endpoint",
  direction: "one-way",
  messageBoundaries: true,
  copiesPerMessage: 3,
  maxMessageSize: ZEROMQ_MAX_MESSAGE,
  relatedProcessesOnly: false,
  crossesMachines: true,
  summary: "A brokerless message queue library: PUSH sockets fan in to one PULL socket over ipc:// or tcp://, queued by high-water marks.",
  kernelLimits: [...SOCKET_LIMITS],
};

export interface ZeromqAddress extends Address {
  readonly transport: "zeromq";
  /** ZeroMQ endpoint to connect to: `ipc:///tmp/ipcs-zmq-….zmq` or `tcp://127.0.0.1:40123`. */
  readonly endpoint: string;
  /** The receiver's ROUTER, where a producer's DEALER hears that its goodbye arrived: `ipc:///tmp/ipcs-zmq-….ack.zmq` or `tcp://…`. */
  readonly ackEndpoint?: string;
  /** The receiver speaks CURVE: connect with its `secret`. */
  readonly curve?: boolean;
}

export interface ZeromqListenOptions extends ListenOptions {
  /**
   * zmq_bind(3) endpoint. `"ipc"` (default): a fresh socket file in
   * `directory`; `"tcp"`: tcp://127.0.0.1 on a port the kernel picks; or a
   * full endpoint, `ipc:///path` or `tcp://host:port` (port 0 or `*`: any).
   */
  listen?: "ipc" | "tcp" | string;
  /** Directory of the ipc socket file (default os.tmpdir()). */
  directory?: string;
  /** File mode of the ipc socket file (default 0o600: only this user may connect). */
  mode?: number;
  /** ZMQ_RCVHWM — zmq_setsockopt(3). ZeroMQ messages (batches of up to 1 MiB) queued per producer on the receiving side before that producer's send() waits (default 16). */
  rcvHwm?: number;
  /** For tcp:// bound to a wildcard host: the host name producers should use (default os.hostname()). */
  advertiseHost?: string;
  /**
   * ZMQ_CURVE_SERVER — zmq_curve(7). A shared secret: the receiver's CURVE
   * key pair is derived from it, so only producers given the same secret
   * complete the handshake, and the traffic is encrypted. Required to bind a
   * tcp:// host other than loopback.
   */
  secret?: string | Uint8Array;
}

export interface ZeromqConnectOptions extends ConnectOptions {
  /** ZMQ_SNDHWM — zmq_setsockopt(3). ZeroMQ messages (batches of up to 1 MiB) queued in libzmq before sending waits (default 4). */
  sndHwm?: number;
  /** ZMQ_LINGER — zmq_setsockopt(3). How long queued messages may still go out if close() gives up (ms, default 10 000). */
  lingerMs?: number;
  /** Bytes waiting in this process, not yet taken by libzmq, before write() returns false (default 4 MiB). */
  highWaterMark?: number;
  /** The receiver's shared secret, when it has one (ZMQ_CURVE_SERVERKEY derived from it; this producer's own key pair is fresh). */
  secret?: string | Uint8Array;
}


export const zeromqTransport: Transport<ZeromqListenOptions, ZeromqConnectOptions> = {
  descriptor: zeromqDescriptor,
  named,
  listen,
  connect,
  list,
  removeStale,
};
