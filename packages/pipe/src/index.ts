import { Socket } from "node:net";
import { PIPE_LIMITS, ChannelError, fdIsFifo, type Address, type Admission, type ListenOptions, type MechanismDescriptor, type Receiver, type Sender, type Transport } from "@ipc-sampler/core";
import { StreamReceiver, StreamSender } from "@ipc-sampler/core/stream";
import { closeFd, growPipe, pipe2, readSpin } from "@ipc-sampler/posix";

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
  kernelLimits: [...PIPE_LIMITS],
};

export interface PipeAddress extends Address {
  readonly transport: "pipe";
  /** The inherited end's descriptor number in the child process. */
  readonly fd: number;
  /** Which end the child holds: the write end (it sends to the parent, the default) or the read end. */
  readonly direction?: "to-parent" | "to-child";
}

export interface PipeToChildOptions {
  /** Largest message (default 16 MiB, up to 4 GiB − 2). */
  maxMessageSize?: number;
  /** fcntl(F_SETPIPE_SZ) capacity to ask for (default 1 MiB). */
  pipeSize?: number;
  /** The read end's descriptor number in the child: 3 + its place in the child's `inherit` list (default 3). */
  childFd?: number;
}

/** The parent's end of a pipe toward one child, and what the child must inherit. */
export interface PipeToChild {
  readonly sender: Sender;
  readonly admission: Admission;
}

export interface PipeListenOptions extends ListenOptions {
  /** Pipe capacity to ask for with fcntl(F_SETPIPE_SZ), bounded by /proc/sys/fs/pipe-max-size (default 1 MiB). */
  pipeSize?: number;
  /** Busy-read before the event loop sleeps, when a caller waits and nothing is queued (µs; default 50, 0 on a one-CPU machine; 0 never spins). Adapts down when spinning does not pay, so an idle channel soon only sleeps. */
  spinUs?: number;
}

/** The producer's write end always lands on fd 3: `stdio: [.., .., .., writeFd]`. */
const CHILD_FD = 3;

/**
 * One pipe per producer: the receiver knows each producer's end of stream
 * (a clean close or a death), and large coalesced writes never interleave
 * with another producer's bytes, which a shared pipe only guarantees up to
 * PIPE_BUF.
 */
function checkMaxMessage(maxMessageSize: number): number {
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > 0xfffffffe) {
    throw new RangeError(`maxMessageSize must be an integer from 0 to 4294967294; got ${maxMessageSize}`);
  }
  return maxMessageSize;
}

/** The inherited descriptor an address names, checked to be a pipe. */
function inheritedPipe(address: Address, direction: "to-parent" | "to-child"): PipeAddress {
  const a = address as PipeAddress;
  if (a.transport !== "pipe" || !Number.isInteger(a.fd) || (a.direction ?? "to-parent") !== direction) {
    throw new TypeError(`not the address of a pipe ${direction}: ${JSON.stringify(address)}`);
  }
  let isPipe = false;
  try {
    isPipe = fdIsFifo(a.fd);
  } catch (err) {
    throw new ChannelError("EPEERGONE", `cannot attach to pipe fd ${a.fd}: this process did not inherit it`, { resource: `fd ${a.fd}`, cause: err });
  }
  if (!isPipe) throw new ChannelError("EPROTO", `cannot attach to pipe fd ${a.fd}: it is not a pipe`, { resource: `fd ${a.fd}` });
  return a;
}

async function listen(options: PipeListenOptions = {}): Promise<Receiver> {
  const maxMessageSize = checkMaxMessage(options.maxMessageSize ?? PIPE_MAX_MESSAGE);
  const pipeSize = options.pipeSize ?? 1024 * 1024;
  const address: PipeAddress = { transport: "pipe", fd: CHILD_FD, maxMessageSize };
  const unreleased = new Set<number>();
  const receiver: StreamReceiver = new StreamReceiver(address, {
    expectedProducers: options.expectedProducers,
    onPeerLost: options.onPeerLost,
    spin: readSpin(options.spinUs),
    reuseBatches: options.reuseBatches,
    describe: (p) => `pipe producer ${p}`,
    admit: async () => {
      if (receiver.closed) throw new ChannelError("ECLOSED", "cannot admit a producer: the pipe receiver is closed");
      const [readFd, writeFd] = pipe2();
      growPipe(writeFd, pipeSize);
      unreleased.add(writeFd);
      receiver.attachFd(readFd);
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
  const a = inheritedPipe(address, "to-parent");
  const socket = new Socket({ fd: a.fd, readable: false, writable: true });
  return new StreamSender(socket, { maxMessageSize: a.maxMessageSize, resource: `pipe fd ${a.fd}` });
}

/**
 * The other direction: a pipe from this process to a child it is about to
 * start. The parent sends; the child inherits the read end (`admission`)
 * and receives with `pipeTransport.receiveFromParent(address)`. A parent
 * and child that open one pipe each way have a request/reply channel.
 */
async function openToChild(options: PipeToChildOptions = {}): Promise<PipeToChild> {
  const maxMessageSize = checkMaxMessage(options.maxMessageSize ?? PIPE_MAX_MESSAGE);
  const childFd = options.childFd ?? CHILD_FD;
  if (!Number.isInteger(childFd) || childFd < 3 || childFd > 1023) throw new RangeError(`childFd must be an integer from 3 to 1023; got ${childFd}`);
  const [readFd, writeFd] = pipe2();
  growPipe(writeFd, options.pipeSize ?? 1024 * 1024);
  const address: PipeAddress = { transport: "pipe", fd: childFd, direction: "to-child", maxMessageSize };
  let held = true;
  const sender = new StreamSender(new Socket({ fd: writeFd, readable: false, writable: true }), { maxMessageSize, resource: `pipe to child fd ${childFd}` });
  return {
    sender,
    admission: {
      address,
      inherit: [readFd],
      release: () => {
        if (held) closeFd(readFd);
        held = false;
      },
    },
  };
}

/** The child's end of `openToChild`: a receiver of the one parent that writes to the inherited read end. */
async function receiveFromParent(address: Address, options: Pick<PipeListenOptions, "onPeerLost" | "spinUs" | "reuseBatches"> = {}): Promise<Receiver> {
  const a = inheritedPipe(address, "to-child");
  const receiver: StreamReceiver = new StreamReceiver(a, {
    expectedProducers: 1,
    onPeerLost: options.onPeerLost,
    spin: readSpin(options.spinUs),
    reuseBatches: options.reuseBatches,
    describe: () => "the parent writing to this pipe",
    admit: async () => {
      throw new ChannelError("EPERM", `cannot admit a producer to pipe fd ${a.fd}: its only producer is the parent that opened it`);
    },
    cleanup: () => {},
  });
  receiver.attachFd(a.fd);
  return receiver;
}

export interface PipeTransport extends Transport<PipeListenOptions> {
  openToChild(options?: PipeToChildOptions): Promise<PipeToChild>;
  receiveFromParent(address: Address, options?: Pick<PipeListenOptions, "onPeerLost" | "spinUs" | "reuseBatches">): Promise<Receiver>;
}

export const pipeTransport: PipeTransport = { descriptor: pipeDescriptor, listen, connect, openToChild, receiveFromParent };
export default pipeTransport;
