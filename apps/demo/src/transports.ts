/**
 * The one place a transport registers itself: id, package, export. The demo,
 * `--transport all`, the benchmark matrix and the docs read this list.
 */
import type { Transport } from "@ipc-sampler/core";

export interface TransportEntry {
  /** Transport id on the command line. */
  readonly id: string;
  /** Package that exports it (a dependency of this app). */
  readonly packageName: string;
  /** Name of the Transport export. */
  readonly exportName: string;
  /** Extra listen options the demo passes (a transport's own). */
  readonly listenOptions?: Readonly<Record<string, unknown>>;
  /**
   * Why the transport's default message-size limit (its descriptor's
   * maxMessageSize) exists, ending a sentence "… because <limitReason>".
   * The figure itself comes from the descriptor, never from here.
   */
  readonly limitReason: string;
  /** Whether its listen option maxMessageSize (the demo's --max-message-size) sizes the channel to a larger limit. */
  readonly limitLifts: boolean;
}

/** Stream transports frame messages themselves; the limit is a bound on what a peer's length header may make the receiver allocate. */
const FRAMED = "a receiver bounds what a peer's length header can make it allocate";

export const transports: readonly TransportEntry[] = [
  { id: "pipe", packageName: "@ipc-sampler/pipe", exportName: "pipeTransport", limitReason: FRAMED, limitLifts: true },
  { id: "uds", packageName: "@ipc-sampler/socket", exportName: "udsTransport", limitReason: FRAMED, limitLifts: true },
  { id: "tcp", packageName: "@ipc-sampler/socket", exportName: "tcpTransport", limitReason: FRAMED, limitLifts: true },
  { id: "fifo", packageName: "@ipc-sampler/fifo", exportName: "fifoTransport", limitReason: `${FRAMED} while it reassembles PIPE_BUF packets`, limitLifts: true },
  {
    id: "mqueue",
    packageName: "@ipc-sampler/mqueue",
    exportName: "mqueueTransport",
    limitReason: "a message larger than one kernel message (mq_msgsize) is reassembled in a buffer the receiver bounds",
    limitLifts: true,
  },
  { id: "zeromq", packageName: "@ipc-sampler/zeromq", exportName: "zeromqTransport", limitReason: `${FRAMED} (ZMQ_MAXMSGSIZE)`, limitLifts: true },
  {
    id: "semaphore",
    packageName: "@ipc-sampler/semaphore",
    exportName: "semaphoreTransport",
    limitReason: "a message never spans two slots of its shared buffer",
    limitLifts: true,
  },
  { id: "shm", packageName: "@ipc-sampler/shm", exportName: "shmTransport", limitReason: "a message may take at most half of a producer's ring", limitLifts: true },
  {
    id: "mmap",
    packageName: "@ipc-sampler/mmap",
    exportName: "mmapTransport",
    limitReason: "a journal record never spans two segment files (the segmentBytes listen option, not a demo flag, sizes them)",
    limitLifts: false,
  },
];

/** Loads an entry's Transport (its package is imported only now: some load native code). */
export async function loadTransport(entry: TransportEntry): Promise<Transport> {
  const t = ((await import(entry.packageName)) as Record<string, Transport | undefined>)[entry.exportName];
  if (!t) throw new Error(`${entry.packageName} does not export ${entry.exportName}`);
  return t;
}

/** The entry with `maxMessageSize` added to the options its receiver listens with. */
export function withMaxMessageSize(entry: TransportEntry, maxMessageSize: number | undefined): TransportEntry {
  return maxMessageSize === undefined ? entry : { ...entry, listenOptions: { ...entry.listenOptions, maxMessageSize } };
}
