import type { MechanismDescriptor } from "@ipc-sampler/core";

/** Column headings for the descriptor fields, in table order. */
export const descriptorColumns: { key: keyof MechanismDescriptor; label: string; help: string }[] = [
  { key: "kernelInterface", label: "Kernel interface", help: "the system call or object it is built on" },
  { key: "persistence", label: "Lives until", help: "process: the last process holding it exits; kernel: reboot or explicit removal; filesystem: explicit removal" },
  { key: "naming", label: "Found by", help: "how a producer finds the channel" },
  { key: "direction", label: "Direction", help: "of the underlying kernel object" },
  { key: "messageBoundaries", label: "Keeps boundaries", help: "no: a byte stream that ipc-sampler frames" },
  { key: "copiesPerMessage", label: "Copies / msg", help: "copies of each payload between sender's and receiver's memory" },
  { key: "maxMessageSize", label: "Max message", help: "default largest message; the address carries the actual one" },
  { key: "relatedProcessesOnly", label: "Related only", help: "only a parent and its descendants can share it" },
  { key: "crossesMachines", label: "Other machines", help: "can reach another machine" },
];

export const persistenceText: Record<string, string> = {
  process: "process (gone when the last holder exits)",
  kernel: "kernel (until removed or reboot)",
  filesystem: "file system (until removed)",
};
