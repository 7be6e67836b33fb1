import { fstatSync, lstatSync } from "node:fs";

// FIFOs and sockets are stat'ed with BigInt stats on purpose. A plain stat
// fills a process-wide buffer that Node's module resolver reads back
// (nodejs/node#51142): after a plain stat of a FIFO or a socket, require()
// and import stop following symlinks, which breaks pnpm's node_modules
// layout for every module the process loads afterwards. BigInt stats use a
// buffer of their own.
const SEPARATE_BUFFER = { bigint: true } as const;

/** Whether descriptor `fd` is a pipe or FIFO (fstat(2), S_ISFIFO). */
export function fdIsFifo(fd: number): boolean {
  return fstatSync(fd, SEPARATE_BUFFER).isFIFO();
}

/** Whether `path` itself (not a symlink's target) is a FIFO; throws ENOENT when absent. */
export function pathIsFifo(path: string): boolean {
  return lstatSync(path, SEPARATE_BUFFER).isFIFO();
}

/** Whether `path` itself (not a symlink's target) is a Unix socket; throws ENOENT when absent. */
export function pathIsSocket(path: string): boolean {
  return lstatSync(path, SEPARATE_BUFFER).isSocket();
}
