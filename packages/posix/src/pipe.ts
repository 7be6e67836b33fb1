import { fromSystemError } from "@ipc-sampler/core";
import { native } from "./loader.js";


/** Bytes up to which a pipe or FIFO write is atomic (PIPE_BUF, 4096 on Linux). */
export const PIPE_BUF = 4096;

/** pipe2(2) with O_CLOEXEC: a real anonymous pipe, returned as [readFd, writeFd]. */
export function pipe2(nonBlocking = false): [number, number] {
  const n = native();
  try {
    return n.pipe2(n.O_CLOEXEC | (nonBlocking ? n.O_NONBLOCK : 0));
  } catch (err) {
    throw fromSystemError(err, "create a pipe");
  }
}

/** fcntl(F_SETPIPE_SZ): grows a pipe's buffer; returns the size granted. */
export function setPipeSize(fd: number, bytes: number): number {
  try {
    return native().setPipeSize(fd, bytes);
  } catch (err) {
    throw fromSystemError(err, "resize pipe", `fd ${fd}`);
  }
}

/** fcntl(F_GETPIPE_SZ). */
export function getPipeSize(fd: number): number {
  try {
    return native().getPipeSize(fd);
  } catch (err) {
    throw fromSystemError(err, "read the size of pipe", `fd ${fd}`);
  }
}

/**
 * Grows a pipe toward `want` bytes, as far as /proc/sys/fs/pipe-max-size and
 * the per-user pipe quota allow; never fails for lack of room.
 */
export function growPipe(fd: number, want: number): number {
  for (let size = want; size >= 65536; size >>>= 1) {
    try {
      return native().setPipeSize(fd, size);
    } catch {
      // EPERM over pipe-max-size, EBUSY/ENOMEM over quota: try smaller
    }
  }
  return getPipeSize(fd);
}

/** mkfifo(3), exclusive: fails with EEXIST if the path exists. */
export function mkfifo(path: string, mode = 0o600): void {
  try {
    native().mkfifo(path, mode);
  } catch (err) {
    throw fromSystemError(err, "create FIFO", path);
  }
}

/** close(2) on a raw descriptor. */
export function closeFd(fd: number): void {
  try {
    native().close(fd);
  } catch (err) {
    throw fromSystemError(err, "close", `fd ${fd}`);
  }
}
