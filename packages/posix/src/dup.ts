import { fromSystemError } from "@ipc-sampler/core";
import { native } from "./loader.js";

/** fcntl(F_DUPFD_CLOEXEC) — fcntl(2): a second descriptor, close-on-exec, for the socket or file behind `fd`. */
export function dupDescriptor(fd: number): number {
  try {
    return native().dupCloexec(fd);
  } catch (err) {
    // A wrong argument stays the TypeError/RangeError it is; only errno failures become ChannelErrors.
    if (err instanceof TypeError || err instanceof RangeError) throw err;
    throw fromSystemError(err, "duplicate", `fd ${fd}`);
  }
}
