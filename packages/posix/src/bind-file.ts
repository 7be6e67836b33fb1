import { chmodSync, linkSync, mkdtempSync, rmdirSync, unlinkSync } from "node:fs";
import path from "node:path";

/** Bytes the private bind directory adds to a socket file's directory: "/.bXXXXXX/s". */
export const BIND_DIR_EXTRA = 11;

/**
 * Creates the socket file `file` with exactly `mode` through `bind`, which
 * binds a socket (net, libzmq, …) to the path it is given, synchronously or
 * by returning a promise; the result has the same shape.
 *
 * bind(2) applies the process umask, and process.umask() is process-wide (and
 * throws in worker threads). So the socket is bound inside a fresh 0700
 * directory next to `file`, chmod'ed, then link(2)ed into place: link is
 * exclusive (EEXIST, even over a dangling symlink), and the file is never
 * reachable with another mode. The directory is removed either way; on
 * failure the caller closes its socket.
 */
export function bindSocketFileWithMode<R extends void | Promise<void>>(file: string, mode: number, bind: (tmpPath: string) => R): R {
  const dir = mkdtempSync(path.join(path.dirname(file), ".b"));
  const tmp = path.join(dir, "s");
  const place = (): void => {
    chmodSync(tmp, mode);
    linkSync(tmp, file);
  };
  // unlink + rmdir, not rmSync: rmSync lstat()s the socket file, and a plain
  // stat of a socket breaks module resolution afterwards (see core's file-kind.ts).
  const cleanup = (): void => {
    try {
      unlinkSync(tmp);
    } catch {
      // never bound
    }
    rmdirSync(dir);
  };
  let bound: R;
  try {
    bound = bind(tmp);
  } catch (err) {
    cleanup();
    throw err;
  }
  if (bound instanceof Promise) return bound.then(place).finally(cleanup) as R;
  try {
    place();
  } finally {
    cleanup();
  }
  return bound;
}
