import { readFrameHeader as readU32 } from "../framing.js";

/**
 * Packets: how many producers share one kernel object that keeps each write
 * or message whole (a FIFO's writes of at most PIPE_BUF bytes, a POSIX
 * message queue's messages). Every write is one packet:
 *
 *   0  u32  producer number: 1 + the slot whose lock the producer holds on
 *            the kernel object (a byte of an OFD lock, see @ipc-sampler/posix
 *            owner.ts); no pid, which another pid namespace would reuse
 *   4  u16  stream: the sender's number within its process
 *   6  u16  header word: the kind, and on a byte stream the body length
 *   8  …    body
 *
 * The header word is either the kind in byte 6 and 0 in byte 7 (a message
 * queue, whose messages keep their length), or `kind << 12 | body length`
 * (a FIFO, where packets follow each other in one byte stream).
 *
 * Kinds: HELLO (empty body: a producer attaches), FRAMES (whole messages,
 * each a u32 length then the bytes), FRAGMENT_FIRST (u32 total length, then
 * the first bytes of a message too large for one packet), FRAGMENT_MORE (the
 * next bytes), GOODBYE (the producer closed cleanly). All little-endian.
 *
 * `PacketSender` is the producing end, `PacketReader` the receiver's producer
 * registry and reassembly, `PacketReceiver` a Receiver around it. All leave
 * the kernel object to the transport: no I/O happens here.
 */
export const PACKET_HEADER_BYTES = 8;
export const PACKET_HELLO = 1;
export const PACKET_FRAMES = 2;
export const PACKET_FRAGMENT_FIRST = 3;
export const PACKET_FRAGMENT_MORE = 4;
export const PACKET_GOODBYE = 5;
/** Producers one packet receiver tracks at once, and the producer numbers (slot locks) there are: 1 to this. */
export const MAX_PACKET_PRODUCERS = 1024;
/** Largest body a `kind << 12 | length` header word can state. */
export const PACKET_MAX_STATED_BODY = 0xfff;

/** The producer's identity on the wire: its number and stream, as one number. */
export function packetProducerKey(buf: Uint8Array, at: number): number {
  return readU32(buf, at) * 65536 + (buf[at + 4]! | (buf[at + 5]! << 8));
}
