/**
 * Where the running machine states a kernel limit: a /proc file (its
 * `field`-th whitespace-separated number, default 0), a getconf(1) name
 * (optionally for a path, and multiplied by `times`), or statfs(2) of a path
 * (its size). The docs read each one on the machine that builds them.
 */
export type KernelLimitSource =
  | { readonly proc: string; readonly field?: number }
  | { readonly getconf: string; readonly path?: string; readonly times?: number }
  | { readonly statfs: string };

/** A kernel limit that matters to a mechanism, and where to read it. */
export interface KernelLimit {
  /** What it limits, in a few words. */
  readonly meaning: string;
  readonly unit: "bytes" | "count";
  readonly from: KernelLimitSource;
}

/** How a limit's source reads in a table: "/proc/sys/fs/pipe-max-size", "getconf PIPE_BUF", "16 × getconf PAGESIZE", "statfs(/dev/shm)". */
export function kernelLimitSource(from: KernelLimitSource): string {
  if ("proc" in from) return from.proc;
  if ("statfs" in from) return `statfs(${from.statfs})`;
  return `${from.times ? `${from.times} × ` : ""}getconf ${from.getconf}`;
}

// Limits more than one package's mechanism shares (pipe(7), mq_overview(7), socket(7), tcp(7), proc(5)).

/** pipe(7): what an anonymous pipe and a FIFO share. */
export const PIPE_LIMITS: readonly KernelLimit[] = [
  { meaning: "writes up to this size are atomic (never interleaved with another writer's)", unit: "bytes", from: { getconf: "PIPE_BUF", path: "/" } },
  { meaning: "default pipe capacity before fcntl(F_SETPIPE_SZ)", unit: "bytes", from: { getconf: "PAGESIZE", times: 16 } },
  { meaning: "largest capacity an unprivileged process may ask for", unit: "bytes", from: { proc: "/proc/sys/fs/pipe-max-size" } },
  { meaning: "pages of pipe buffers per user before new pipes shrink to one page", unit: "count", from: { proc: "/proc/sys/fs/pipe-user-pages-soft" } },
];

/** The tmpfs that holds POSIX shared memory and named semaphores. */
export const DEV_SHM_SIZE: KernelLimit = { meaning: "size of the tmpfs that holds POSIX shared memory and named semaphores", unit: "bytes", from: { statfs: "/dev/shm" } };
/** Mappings one process may hold (proc(5) vm.max_map_count). */
export const MAX_MAP_COUNT: KernelLimit = { meaning: "mappings one process may hold", unit: "count", from: { proc: "/proc/sys/vm/max_map_count" } };
/** The longest accept backlog (socket(7) somaxconn). */
export const SOMAXCONN: KernelLimit = { meaning: "longest accept backlog", unit: "count", from: { proc: "/proc/sys/net/core/somaxconn" } };

/** socket(7): default buffers and backlog of a socket that is not TCP's. */
export const SOCKET_LIMITS: readonly KernelLimit[] = [
  { meaning: "default socket send buffer", unit: "bytes", from: { proc: "/proc/sys/net/core/wmem_default" } },
  { meaning: "default socket receive buffer", unit: "bytes", from: { proc: "/proc/sys/net/core/rmem_default" } },
  SOMAXCONN,
];

/** tcp(7): tcp_wmem and tcp_rmem override net.core.wmem_default and rmem_default for TCP. */
export const TCP_LIMITS: readonly KernelLimit[] = [
  SOMAXCONN,
  { meaning: "TCP receive buffer a socket starts with (default of min/default/max)", unit: "bytes", from: { proc: "/proc/sys/net/ipv4/tcp_rmem", field: 1 } },
  { meaning: "TCP send buffer a socket starts with (default of min/default/max)", unit: "bytes", from: { proc: "/proc/sys/net/ipv4/tcp_wmem", field: 1 } },
  { meaning: "TCP send buffer auto-tuning ceiling (max of min/default/max)", unit: "bytes", from: { proc: "/proc/sys/net/ipv4/tcp_wmem", field: 2 } },
];
