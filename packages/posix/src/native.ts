/**
 * The whole native surface, as the addon exports it. Functions throw plain
 * Errors with `code`, `errno` and `syscall`; `index.ts` wraps them into
 * ChannelError with the resource involved.
 */
export interface NativeAddon {
  /** pipe2(2) → [readFd, writeFd]. */
  pipe2(flags: number): [number, number];
  /** fcntl(F_SETPIPE_SZ): returns the capacity the kernel granted. */
  setPipeSize(fd: number, bytes: number): number;
  /** fcntl(F_GETPIPE_SZ). */
  getPipeSize(fd: number): number;
  /** mkfifo(3) with the exact mode (umask cleared for the call). */
  mkfifo(path: string, mode: number): void;
  /** close(2). */
  close(fd: number): void;
  readonly O_CLOEXEC: number;
  readonly O_NONBLOCK: number;
  readonly PIPE_BUF: number;
}
