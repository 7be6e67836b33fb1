/** The order of the mechanism pages (ids are the demo's transport ids). */
export const mechanismPages = [
  { id: "pipe", title: "Anonymous pipe" },
  { id: "fifo", title: "Named pipe (FIFO)" },
  { id: "mqueue", title: "POSIX message queue" },
  { id: "zeromq", title: "ZeroMQ" },
  { id: "shm", title: "Shared memory" },
  { id: "mmap", title: "Memory-mapped file" },
  { id: "uds", title: "Unix domain socket" },
  { id: "tcp", title: "TCP socket" },
  { id: "semaphore", title: "Semaphore" },
] as const;
