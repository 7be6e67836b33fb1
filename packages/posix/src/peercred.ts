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
