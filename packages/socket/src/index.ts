export { udsTransport, udsDescriptor, SOCKET_MAX_MESSAGE, type UdsAddress, type UdsConnectOptions, type UdsListenOptions } from "./uds.js";
export { tcpTransport, tcpDescriptor, type TcpAddress, type TcpConnectOptions, type TcpListenOptions } from "./tcp.js";
export { HANDSHAKE_TIMEOUT_MS, MAX_PENDING_HANDSHAKES, type Secret } from "./handshake.js";
