import type { Sender } from "./interface.js";

/**
 * `Sender.send` in terms of `write` and `drain`: a message taken below the
 * high-water mark resolves at once, otherwise it waits for room. A write
 * that throws (EMSGSIZE, ECLOSED, …) becomes a rejection, as `send` promises.
 */
export function writeOrDrain(sender: Pick<Sender, "write" | "drain">, message: Uint8Array): Promise<void> {
  try {
    if (sender.write(message)) return Promise.resolve();
  } catch (err) {
    return Promise.reject(err);
  }
  return sender.drain();
}
