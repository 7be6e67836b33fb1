import {
  DEFAULT_PREFIX,
  type Address,
  type ListenOptions,
  type MechanismDescriptor,
  type Transport,
} from "@ipc-sampler/core";
import { DEV_SHM_SIZE, namedResources, removedNames } from "@ipc-sampler/core";
import { segments, semaphores } from "@ipc-sampler/posix";
import { CHANNEL_TAG, SEMAPHORE_MAX_MESSAGE } from "./layout.js";
import { listen } from "./receiver.js";
import { connect } from "./sender.js";

export { SEMAPHORE_MAX_MESSAGE, SEMAPHORE_SLOT_SIZE } from "./layout.js";
export { Semaphore, Lock, type SemaphoreCreateOptions, type AcquireOptions, type LockAcquireOptions } from "./semaphore.js";

export const semaphoreDescriptor: MechanismDescriptor = {
  id: "semaphore",
  mechanism: "semaphore-guarded bounded buffer",
  kernelInterface: "sem_open(3) + mmap(2) of /dev/shm",
  persistence: "kernel",
  naming: "kernel name",
  direction: "one-way",
  messageBoundaries: false,
  copiesPerMessage: 3,
  maxMessageSize: SEMAPHORE_MAX_MESSAGE,
  relatedProcessesOnly: false,
  crossesMachines: false,
  summary: "K slots in shared memory with an empty, a full and a mutex named semaphore: the textbook producer/consumer buffer.",
  kernelLimits: [
    { meaning: "largest value a semaphore can count to", unit: "count", from: { getconf: "SEM_VALUE_MAX" } },
    { ...DEV_SHM_SIZE, meaning: "named semaphores live here, one small file each" },
  ],
};

export interface SemaphoreAddress extends Address {
  readonly transport: "semaphore";
  /** Segment name in /dev/shm; the semaphores are `/<name>.empty`, `.full`, `.mutex`. */
  readonly name: string;
  readonly slots: number;
  readonly slotSize: number;
}

export interface SemaphoreListenOptions extends ListenOptions {
  /** Number of slots K, a power of two from 2 to 1024 (default: as many as fit 4 MiB, 2 to 32). */
  slots?: number;
  /**
   * Bytes per slot, a multiple of 64 (default 64 KiB, or what maxMessageSize
   * needs). A message never spans slots: maxMessageSize is at most
   * slotSize - 20.
   */
  slotSize?: number;
  /** A bare name for the segment and semaphores (default: a fresh unique one with the prefix). */
  name?: string;
}

/** The channels' segments and semaphores, `<prefix>semch-…` (semaphores with their leading slash). */
const named = namedResources([segments, CHANNEL_TAG], [semaphores, CHANNEL_TAG]);

/** @deprecated named.list({ prefix }). */
async function list(prefix = DEFAULT_PREFIX): Promise<string[]> {
  return named.list({ prefix });
}

/** @deprecated named.removeStale({ prefix }). Removes channel segments and semaphores no live receiver owns. */
async function removeStale(prefix = DEFAULT_PREFIX): Promise<string[]> {
  return removedNames(await named.removeStale({ prefix }));
}

export const semaphoreTransport: Transport<SemaphoreListenOptions> = { descriptor: semaphoreDescriptor, named, listen, connect, list, removeStale };

export default semaphoreTransport;
