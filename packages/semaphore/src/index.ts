import { semaphoreTransport } from "./channel.js";

export { Semaphore, Lock, type SemaphoreCreateOptions, type AcquireOptions, type LockAcquireOptions } from "./semaphore.js";
export {
  semaphoreTransport,
  semaphoreDescriptor,
  SEMAPHORE_MAX_MESSAGE,
  SEMAPHORE_SLOT_SIZE,
  type SemaphoreAddress,
  type SemaphoreListenOptions,
} from "./channel.js";
export { runSharedCounter, type SharedCounterOptions, type SharedCounterResult } from "./shared-counter.js";
export default semaphoreTransport;
