/**
 * The one place a transport registers itself: id, package, export. The demo,
 * `--transport all`, the benchmark matrix and the docs read this list.
 */
export interface TransportEntry {
  /** Transport id on the command line. */
  readonly id: string;
  /** Package that exports it (a dependency of this app). */
  readonly packageName: string;
  /** Name of the Transport export. */
  readonly exportName: string;
  /** Extra listen options the demo passes (a transport's own). */
  readonly listenOptions?: Readonly<Record<string, unknown>>;
}

export const transports: readonly TransportEntry[] = [
  { id: "pipe", packageName: "@ipc-sampler/pipe", exportName: "pipeTransport" },
  { id: "uds", packageName: "@ipc-sampler/socket", exportName: "udsTransport" },
  { id: "tcp", packageName: "@ipc-sampler/socket", exportName: "tcpTransport" },
  { id: "fifo", packageName: "@ipc-sampler/fifo", exportName: "fifoTransport" },
  { id: "mqueue", packageName: "@ipc-sampler/mqueue", exportName: "mqueueTransport" },
  { id: "zeromq", packageName: "@ipc-sampler/zeromq", exportName: "zeromqTransport" },
  { id: "semaphore", packageName: "@ipc-sampler/semaphore", exportName: "semaphoreTransport" },
  { id: "shm", packageName: "@ipc-sampler/shm", exportName: "shmTransport" },
  { id: "mmap", packageName: "@ipc-sampler/mmap", exportName: "mmapTransport" },
];
