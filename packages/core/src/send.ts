import { ChannelError } from "./errors.js";
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

/** EMSGSIZE for a message over a sender's limit (nothing of it was sent). `target` names the channel in the message. */
export function messageTooLarge(length: number, limit: number, target: string, resource = target, verb = "send"): ChannelError {
  return new ChannelError("EMSGSIZE", `cannot ${verb} a ${length}-byte message to ${target}: the limit is ${limit} bytes`, { resource });
}

/** ECLOSED for a write after the sender was closed. */
export function senderClosed(target: string, resource = target, action = "send to"): ChannelError {
  return new ChannelError("ECLOSED", `cannot ${action} ${target}: this sender is closed`, { resource });
}

/** EBUSY for a write or a second reserve() while a reserved message is not committed (ReservingSender). */
export function reservationOpen(target: string, resource = target): ChannelError {
  return new ChannelError("EBUSY", `cannot write to ${target}: a reserved message is not committed yet (commit() it first)`, { resource });
}

/** EPERM for commit() with nothing reserved (ReservingSender). */
export function nothingReserved(target: string, resource = target): ChannelError {
  return new ChannelError("EPERM", `cannot commit to ${target}: nothing is reserved (call reserve() first)`, { resource });
}
