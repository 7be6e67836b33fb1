import { deserialize, serialize } from "node:v8";
import { ChannelError, type MessageBatch, type Receiver, type Sender } from "@ipc-sampler/core";

/**
 * Objects on channels: a codec turns a value into one message and back. The
 * object ends keep the byte ends' batching: `write` is synchronous (no promise
 * per message) and `batches()` decodes a whole batch per await.
 */
export interface Codec<T = unknown> {
  readonly name: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** Bytes as they are: no copy on encode, a copy on decode (batch bytes are reused). */
export const rawCodec: Codec<Uint8Array> = {
  name: "raw",
  encode: (value) => {
    if (!(value instanceof Uint8Array)) throw new TypeError("the raw codec sends Uint8Array values only; use jsonCodec or v8Codec for objects");
    return value;
  },
  decode: (bytes) => bytes.slice(),
};

const utf8 = new TextDecoder();

/** JSON text: portable to any language, loses undefined, Map, Date, BigInt, typed arrays. */
export const jsonCodec: Codec<unknown> = {
  name: "json",
  encode: (value) => Buffer.from(JSON.stringify(value) ?? "null"),
  decode: (bytes) => JSON.parse(utf8.decode(bytes)),
};

/** V8's structured clone (node:v8 serialize): Map, Set, Date, BigInt, typed arrays, cycles. */
export const v8Codec: Codec<unknown> = {
  name: "v8",
  encode: (value) => serialize(value),
  decode: (bytes) => deserialize(bytes),
};

/** A typed error for a value the codec cannot encode (a function, a symbol, a socket …). */
export function unserializable(what: string, err: unknown): ChannelError {
  const reason = err instanceof Error ? err.message : String(err);
  return new ChannelError("EPROTO", `cannot send ${what}: it cannot be serialized (${reason})`, { cause: err });
}

/** The producing end, for objects. */
export class ObjectSender<T = unknown> {
  constructor(readonly bytes: Sender, readonly codec: Codec<T>) {}
  /** Encodes and queues `value`; false when the caller should `await drain()`. Throws EPROTO for an unserializable value (nothing sent). */
  write(value: T): boolean {
    let message: Uint8Array;
    try {
      message = this.codec.encode(value);
    } catch (err) {
      throw unserializable("a value", err);
    }
    return this.bytes.write(message);
  }
  drain(): Promise<void> {
    return this.bytes.drain();
  }
  send(value: T): Promise<void> {
    try {
      return this.write(value) ? Promise.resolve() : this.drain();
    } catch (err) {
      return Promise.reject(err);
    }
  }
  close(): Promise<void> {
    return this.bytes.close();
  }
}

/** Decodes every message of one batch (a bad message becomes EPROTO for the whole channel). */
export function decodeBatch<T>(batch: MessageBatch, codec: Codec<T>, out: T[] = []): T[] {
  const { data, offsets } = batch;
  for (let i = 0; i < batch.count; i++) {
    const start = offsets[2 * i]!;
    const length = offsets[2 * i + 1]!;
    try {
      out.push(codec.decode(data.subarray(start, start + length)));
    } catch (err) {
      throw new ChannelError("EPROTO", `a message from producer ${batch.producer} is not valid ${codec.name}: ${(err as Error).message}`, { producer: batch.producer, cause: err });
    }
  }
  return out;
}

/** The consuming end, for objects. */
export class ObjectReceiver<T = unknown> implements AsyncIterable<T> {
  constructor(readonly bytes: Receiver, readonly codec: Codec<T>) {}
  /** One array of decoded values per batch of messages. */
  async *batches(): AsyncIterableIterator<T[]> {
    for await (const batch of this.bytes.batches()) yield decodeBatch(batch, this.codec);
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for await (const values of this.batches()) yield* values;
  }
  close(): Promise<void> {
    return this.bytes.close();
  }
}
