import type { MechanismDescriptor } from "@ipc-sampler/core";

/** Column headings for the descriptor fields, in table order. */
export const descriptorColumns: { key: keyof MechanismDescriptor; label: string; help: string }[] = [
  { key: "kernelInterface", label: "Kernel interface", help: "the system call or object it is built on" },
  { key: "persistence", label: "Lives until", help: "what the kernel object allows — process: the last process holding it exits; kernel: reboot or removal; filesystem: removal. The receiver removes what it created on close and exit, so it outlives its processes only after a crash (or as a named mmap journal)" },
  { key: "naming", label: "Found by", help: "how a producer finds the channel" },
  { key: "direction", label: "Direction", help: "of the underlying kernel object; every channel here sends one way, Sender → Receiver" },
  { key: "messageBoundaries", label: "Keeps boundaries", help: "whole messages kept by the kernel object (or libzmq); no: a byte stream or memory that ipc-sampler frames" },
  { key: "copiesPerMessage", label: "Copies / msg", help: "copies of a message's bytes, by the package or the kernel, from the buffer given to write() to the batch the receiver reads, for a message sent in one piece" },
  { key: "maxMessageSize", label: "Max message", help: "default largest message; the address carries the actual one" },
  { key: "relatedProcessesOnly", label: "Related only", help: "only a parent and its descendants can share it" },
  { key: "crossesMachines", label: "Other machines", help: "can reach another machine" },
];

export const persistenceText: Record<string, string> = {
  process: "process (gone when the last holder exits)",
  kernel: "kernel (until removed or reboot)",
  filesystem: "file system (until removed)",
};
