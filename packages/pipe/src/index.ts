import { Socket } from "node:net";
import { ChannelError, fdIsFifo, type Address, type ListenOptions, type MechanismDescriptor, type Receiver, type Sender, type Transport } from "@ipc-sampler/core";
import { StreamReceiver, StreamSender } from "@ipc-sampler/core/stream";
import { closeFd, growPipe, pipe2 } from "@ipc-sampler/posix";

/** Default largest message: 16 MiB (the frame header allows up to 4 GiB - 2). */
export const PIPE_MAX_MESSAGE = 16 * 1024 * 1024;

export const pipeDescriptor: MechanismDescriptor = {
  id: "pipe",
  mechanism: "anonymous pipe",
  kernelInterface: "pipe2(2)",
  persistence: "process",
  naming: "inherited descriptor",
  direction: "one-way",
  messageBoundaries: false,
  copiesPerMessage: 3,
  maxMessageSize: PIPE_MAX_MESSAGE,
  relatedProcessesOnly: true,
  crossesMachines: false,
  summary: "A kernel byte buffer with a read end and a write end, shared by inheritance from parent to child.",
};

export interface PipeAddress extends Address {
  readonly transport: "pipe";
  /** The write end's descriptor number in the producer process. */
  readonly fd: number;
}

export interface PipeListenOptions extends ListenOptions {
  /** Pipe capacity to ask for with fcntl(F_SETPIPE_SZ), bounded by /proc/sys/fs/pipe-max-size (default 1 MiB). */
  pipeSize?: number;
}

/** The producer's write end always lands on fd 3: `stdio: [.., .., .., writeFd]`. */
const CHILD_FD = 3;

/**
 * One pipe per producer: the receiver knows each producer's end of stream
 * (a clean close or a death), and large coalesced writes never interleave
 * with another producer's bytes, which a shared pipe only guarantees up to
 * PIPE_BUF.
 */
async function listen(options: PipeListenOptions = {}): Promise<Receiver> {
  const maxMessageSize = options.maxMessageSize ?? PIPE_MAX_MESSAGE;
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > 0xfffffffe) {
    throw new RangeError(`maxMessageSize must be an integer from 0 to 4294967294; got ${maxMessageSize}`);
  }
  const pipeSize = options.pipeSize ?? 1024 * 1024;
  const address: PipeAddress = { transport: "pipe", fd: CHILD_FD, maxMessageSize };
  const unreleased = new Set<number>();
  const receiver: StreamReceiver = new StreamReceiver(address, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    describe: (p) => `pipe producer ${p}`,
    admit: async () => {
      if (receiver.closed) throw new ChannelError("ECLOSED", "cannot admit a producer: the pipe receiver is closed");
      const [readFd, writeFd] = pipe2();
      growPipe(writeFd, pipeSize);
      unreleased.add(writeFd);
      receiver.attach(new Socket({ fd: readFd, readable: true, writable: false }));
      return {
        address,
        inherit: [writeFd],
        release: () => {
          if (unreleased.delete(writeFd)) closeFd(writeFd);
        },
      };
    },
    cleanup: () => {
      for (const fd of unreleased) closeFd(fd);
      unreleased.clear();
    },
  });
  return receiver;
}

async function connect(address: Address): Promise<Sender> {
  const a = address as PipeAddress;
  if (a.transport !== "pipe" || !Number.isInteger(a.fd)) {
    throw new TypeError(`not a pipe address: ${JSON.stringify(address)}`);
  }
  let isPipe = false;
  try {
    isPipe = fdIsFifo(a.fd);
  } catch (err) {
    throw new ChannelError("EPEERGONE", `cannot attach to pipe fd ${a.fd}: this process did not inherit it`, { resource: `fd ${a.fd}`, cause: err });
  }
  if (!isPipe) throw new ChannelError("EPROTO", `cannot attach to pipe fd ${a.fd}: it is not a pipe`, { resource: `fd ${a.fd}` });
  const socket = new Socket({ fd: a.fd, readable: false, writable: true });
  return new StreamSender(socket, { maxMessageSize: a.maxMessageSize, resource: `pipe fd ${a.fd}` });
}

export const pipeTransport: Transport<PipeListenOptions> = { descriptor: pipeDescriptor, listen, connect };
export default pipeTransport;
