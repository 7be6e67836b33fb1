export { udsTransport, udsDescriptor, SOCKET_MAX_MESSAGE, type UdsAddress, type UdsListenOptions } from "./uds.js";
export { tcpTransport, tcpDescriptor, type TcpAddress, type TcpListenOptions } from "./tcp.js";
