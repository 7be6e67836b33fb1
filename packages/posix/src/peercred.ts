import { fromSystemError } from "@ipc-sampler/core";
import { native } from "./loader.js";
import type { PeerCredentials } from "./native.js";

export type { PeerCredentials } from "./native.js";

/** getsockopt(SO_PEERCRED): the pid, uid and gid of the process at the other end of a connected Unix socket `fd`. */
export function peerCredentials(fd: number): PeerCredentials {
  try {
    return native().peerCredentials(fd);
  } catch (err) {
    throw fromSystemError(err, "read the peer credentials of", `fd ${fd}`);
  }
}

/**
 * SO_SNDBUF — socket(7): asks for a send buffer of `bytes` on socket `fd`
 * (0: only reads it) and returns what the kernel granted: twice the request
 * (its bookkeeping share), the request capped at /proc/sys/net/core/wmem_max.
 */
export function socketSendBuffer(fd: number, bytes = 0): number {
  try {
    return native().socketSendBuffer(fd, bytes);
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) throw err;
    throw fromSystemError(err, "size the send buffer of", `fd ${fd}`);
  }
}
