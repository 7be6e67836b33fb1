// One module per POSIX family; the native surface is declared in native.ts.
export { native } from "./loader.js";
export type { FutexOutcome, NativeAddon, NativeFdWatcher, NativeFutexWaiter, SemHandle } from "./native.js";
export * from "./pipe.js";
export * from "./mq.js";
export * from "./sem.js";
export * from "./futex.js";
export * from "./sem-futex.js";
export * from "./follower.js";
export * from "./segment.js";
export * from "./poll.js";
export * from "./owner.js";
export * from "./sweep.js";
export * from "./named.js";
export * from "./peercred.js";
export * from "./bind-file.js";
export * from "./dup.js";
export * from "./checksum.js";
