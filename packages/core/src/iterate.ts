import type { MessageBatch } from "./interface.js";

/** Where a receiver's iterators take batches from: the next one, or undefined at the end. */
export type NextBatch = () => Promise<MessageBatch | undefined>;

/** `Receiver.batches()` over `next`: one promise per batch. `onReturn` runs when the caller stops early. */
export function batchIterator(next: NextBatch, onReturn?: () => void): AsyncIterableIterator<MessageBatch> {
  const it: AsyncIterableIterator<MessageBatch> = {
    next: async () => {
      const b = await next();
      return b ? { value: b, done: false } : { value: undefined, done: true };
    },
    return: async () => {
      onReturn?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

/** Where a receiver that makes its iterator results itself hands them out: one promise per batch, nothing wrapped around it. */
export type NextResult = () => Promise<IteratorResult<MessageBatch, undefined>>;

/** `Receiver.batches()` over `next`, whose promise settles with the iterator result itself (no async wrapper, no extra hop). */
export function resultIterator(next: NextResult, onReturn?: () => void): AsyncIterableIterator<MessageBatch> {
  const it: AsyncIterableIterator<MessageBatch> = {
    next,
    return: () => {
      onReturn?.();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

/**
 * The simple path over `next`: one Uint8Array per message. A view into the
 * batch (`copy` false) where its bytes outlive the batch, or a copy the
 * caller may keep (`copy` true) where the transport reuses them.
 */
export function messageIterator(next: NextBatch, copy: boolean, onReturn?: () => void): AsyncIterator<Uint8Array> {
  let batch: MessageBatch | undefined;
  let i = 0;
  return {
    next: async () => {
      while (!batch || i >= batch.count) {
        batch = await next();
        i = 0;
        if (!batch) return { value: undefined, done: true };
      }
      const start = batch.offsets[2 * i]!;
      const len = batch.offsets[2 * i + 1]!;
      i++;
      return { value: copy ? batch.data.slice(start, start + len) : batch.data.subarray(start, start + len), done: false };
    },
    return: async () => {
      onReturn?.();
      return { value: undefined, done: true };
    },
  };
}
