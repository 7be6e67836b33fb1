import type { MessageBatch } from "./interface.js";

/** Below this a buffer comes from Node's allocator as before: small blocks are recycled by malloc and the slab. */
export const POOLED_MIN_BYTES = 64 * 1024;
/**
 * Kept per size class: at least 8 buffers, or as many as make 16 MiB (the
 * backlog a receiver lets build up before it stops reading: a burst of
 * 64 KiB messages has ~256 in flight). Past it a given-back buffer is left
 * to the garbage collector. The pool never holds more than was in use at once.
 */
const PER_CLASS_MIN = 8;
const PER_CLASS_BYTES = 16 * 1024 * 1024;

/** A pooled buffer and how many still read it: the batches whose bytes are in it, and the reader while it reads into it. */
export interface Lease {
  readonly buffer: Buffer;
  holders: number;
}

/** A batch whose bytes are in a leased buffer, dropped when the batch is released. */
export interface PooledBatch extends MessageBatch {
  readonly lease: Lease | undefined;
}

/**
 * Large buffers a receiver copies or reads messages into, reused once every
 * batch that held one is released (ListenOptions.reuseBatches). Fresh memory
 * faults on first touch, once per 4 KiB page: 256 faults per MiB, which cost
 * a stream receiver more than its copies at 1 MiB. Size classes are powers of
 * two, so messages of similar sizes share buffers; the unused tail of a
 * class is never touched, so it costs address space, not memory. A batch
 * that is never released (the message iterator's) keeps its buffer, which
 * the garbage collector frees as before.
 */
export class BatchBuffers {
  private readonly free = new Map<number, Buffer[]>();

  /** A buffer of at least `bytes`, held once (by the caller): a given-back one of its class, else a new one. */
  lease(bytes: number): Lease {
    const size = 2 ** Math.ceil(Math.log2(bytes));
    return { buffer: this.free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size), holders: 1 };
  }

  /** One holder is done with `lease`; the last one gives its buffer back. */
  drop(lease: Lease): void {
    if (--lease.holders > 0) return;
    const b = lease.buffer;
    let list = this.free.get(b.length);
    if (!list) this.free.set(b.length, (list = []));
    if (list.length < Math.max(PER_CLASS_MIN, PER_CLASS_BYTES / b.length)) list.push(b);
  }

  /** Drops the lease of a released batch, if it has one. */
  readonly release = (batch: MessageBatch): void => {
    const lease = (batch as PooledBatch).lease;
    if (lease) this.drop(lease);
  };
}
