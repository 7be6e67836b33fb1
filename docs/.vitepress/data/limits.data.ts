// Kernel limits of the machine that built this site, read from /proc and
// getconf at build time. The benchmark machine's own limits come from the
// results file.
import { execFileSync } from "node:child_process";
import { readFileSync, statfsSync } from "node:fs";
import os from "node:os";

export interface Limit {
  /** Where the value comes from: a /proc file, getconf name or statfs(2). */
  source: string;
  /** What it limits, in a few words. */
  meaning: string;
  /** Bytes or a count; undefined when this machine does not expose it. */
  value?: number;
  unit: "bytes" | "count";
}

export interface LimitsData {
  host: string;
  kernel: string;
  /** Limits that matter to each transport id. */
  byTransport: Record<string, Limit[]>;
}

declare const data: LimitsData;
export { data };

function proc(file: string, field = 0): number | undefined {
  try {
    const n = Number(readFileSync(file, "utf8").trim().split(/\s+/)[field]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function getconf(name: string, path?: string): number | undefined {
  try {
    const n = Number(execFileSync("getconf", path ? [name, path] : [name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function fsSize(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.blocks * s.bsize;
  } catch {
    return undefined;
  }
}

export function loadLimits(): LimitsData {
  const page = getconf("PAGESIZE");
  const pipe: Limit[] = [
    { source: "getconf PIPE_BUF", meaning: "writes up to this size are atomic (never interleaved with another writer's)", value: getconf("PIPE_BUF", "/"), unit: "bytes" },
    { source: "16 × getconf PAGESIZE", meaning: "default pipe capacity before fcntl(F_SETPIPE_SZ)", value: page ? 16 * page : undefined, unit: "bytes" },
    { source: "/proc/sys/fs/pipe-max-size", meaning: "largest capacity an unprivileged process may ask for", value: proc("/proc/sys/fs/pipe-max-size"), unit: "bytes" },
    { source: "/proc/sys/fs/pipe-user-pages-soft", meaning: "pages of pipe buffers per user before new pipes shrink to one page", value: proc("/proc/sys/fs/pipe-user-pages-soft"), unit: "count" },
  ];
  const mq: Limit[] = [
    { source: "/proc/sys/fs/mqueue/msg_max", meaning: "most messages a queue may hold (mq_maxmsg ceiling)", value: proc("/proc/sys/fs/mqueue/msg_max"), unit: "count" },
    { source: "/proc/sys/fs/mqueue/msgsize_max", meaning: "largest message (mq_msgsize ceiling)", value: proc("/proc/sys/fs/mqueue/msgsize_max"), unit: "bytes" },
    { source: "/proc/sys/fs/mqueue/queues_max", meaning: "queues on the whole system", value: proc("/proc/sys/fs/mqueue/queues_max"), unit: "count" },
    { source: "/proc/sys/fs/mqueue/msg_default", meaning: "mq_maxmsg when mq_open gets no attributes", value: proc("/proc/sys/fs/mqueue/msg_default"), unit: "count" },
    { source: "/proc/sys/fs/mqueue/msgsize_default", meaning: "mq_msgsize when mq_open gets no attributes", value: proc("/proc/sys/fs/mqueue/msgsize_default"), unit: "bytes" },
  ];
  const shm: Limit[] = [
    { source: "statfs(/dev/shm)", meaning: "size of the tmpfs that holds POSIX shared memory and named semaphores", value: fsSize("/dev/shm"), unit: "bytes" },
    { source: "getconf PAGESIZE", meaning: "mapping granularity: segments are whole pages", value: page, unit: "bytes" },
    { source: "/proc/sys/vm/max_map_count", meaning: "mappings one process may hold", value: proc("/proc/sys/vm/max_map_count"), unit: "count" },
  ];
  const mmap: Limit[] = [
    { source: "getconf PAGESIZE", meaning: "mapping granularity: the journal grows by whole segment files, each a multiple of 4096 bytes", value: page, unit: "bytes" },
    { source: "/proc/sys/vm/max_map_count", meaning: "mappings one process may hold", value: proc("/proc/sys/vm/max_map_count"), unit: "count" },
    { source: "/proc/sys/vm/dirty_expire_centisecs", meaning: "age (1/100 s) after which the kernel's flusher writes a dirty page back on its next pass, without a sync", value: proc("/proc/sys/vm/dirty_expire_centisecs"), unit: "count" },
  ];
  const socket: Limit[] = [
    { source: "/proc/sys/net/core/wmem_default", meaning: "default socket send buffer", value: proc("/proc/sys/net/core/wmem_default"), unit: "bytes" },
    { source: "/proc/sys/net/core/rmem_default", meaning: "default socket receive buffer", value: proc("/proc/sys/net/core/rmem_default"), unit: "bytes" },
    { source: "/proc/sys/net/core/somaxconn", meaning: "longest accept backlog", value: proc("/proc/sys/net/core/somaxconn"), unit: "count" },
  ];
  const uds: Limit[] = [
    ...socket,
    { source: "/proc/sys/net/unix/max_dgram_qlen", meaning: "datagrams queued per Unix socket (not used by the stream socket)", value: proc("/proc/sys/net/unix/max_dgram_qlen"), unit: "count" },
  ];
  // tcp(7): tcp_wmem and tcp_rmem override net.core.wmem_default and rmem_default for TCP.
  const tcp: Limit[] = [
    ...socket.filter((l) => l.source.endsWith("somaxconn")),
    { source: "/proc/sys/net/ipv4/tcp_rmem", meaning: "TCP receive buffer a socket starts with (default of min/default/max)", value: proc("/proc/sys/net/ipv4/tcp_rmem", 1), unit: "bytes" },
    { source: "/proc/sys/net/ipv4/tcp_wmem", meaning: "TCP send buffer a socket starts with (default of min/default/max)", value: proc("/proc/sys/net/ipv4/tcp_wmem", 1), unit: "bytes" },
    { source: "/proc/sys/net/ipv4/tcp_wmem", meaning: "TCP send buffer auto-tuning ceiling (max of min/default/max)", value: proc("/proc/sys/net/ipv4/tcp_wmem", 2), unit: "bytes" },
  ];
  const semaphore: Limit[] = [
    { source: "getconf SEM_VALUE_MAX", meaning: "largest value a semaphore can count to", value: getconf("SEM_VALUE_MAX"), unit: "count" },
    { source: "statfs(/dev/shm)", meaning: "named semaphores live here, one small file each", value: fsSize("/dev/shm"), unit: "bytes" },
  ];
  const zeromq: Limit[] = [...socket];
  return {
    host: os.hostname(),
    kernel: `${os.type()} ${os.release()}`,
    byTransport: { pipe, fifo: pipe, mqueue: mq, zeromq, shm, mmap, uds, tcp, semaphore },
  };
}

export default { load: loadLimits };
