import { hostname } from "node:os";

/**
 * ZeroMQ PUSH/PULL behind the ipc-sampler interface. The receiver binds one
 * PULL socket (ipc:// by default, tcp:// when asked); every producer
 * connects a PUSH socket to it. Many small messages travel coalesced in one
 * ZeroMQ message:
 *
 *   header (20 bytes, little-endian)
 *     u8  magic 0x5a, u8 version 1, u8 kind, u8 reserved
 *     u32 producer pid, u32 producer session (random), u32 sequence, u32 frame count
 *   then, for DATA, `count` frames of [u32 length][bytes] (core framing)
 *
 * Kinds: HELLO (body: JSON {host, pid, slot}), DATA, GOODBYE, HEARTBEAT. The
 * sequence numbers every ZeroMQ message of a producer, so the receiver sees
 * a gap if ZeroMQ ever dropped one (it can after a reconnect).
 *
 * A second, tiny channel runs the other way: the receiver binds a ROUTER
 * (`ackEndpoint`), each producer connects a DEALER whose routing id is
 * `<pid>.<session>`: a producer registers there with a HELLO while it
 * connects, and the receiver answers that and, later, its GOODBYE. A producer
 * keeps its PUSH connection open until that answer: libzmq discards bytes
 * still unread in the kernel when a paused connection (at ZMQ_RCVHWM) sees
 * its peer hang up, so a producer that exits straight after its last send
 * could lose its final batches.
 */

/** Default largest message: 16 MiB, one ZeroMQ message of its own. */
export const ZEROMQ_MAX_MESSAGE = 16 * 1024 * 1024;
/** Largest maxMessageSize a receiver accepts (Buffer and frame-length bounds keep it well under 2 GiB). */
export const ZEROMQ_MAX_MESSAGE_CEILING = 1024 * 1024 * 1024;

export const MAGIC = 0x5a;
export const VERSION = 1;
export const KIND_HELLO = 1;
export const KIND_DATA = 2;
export const KIND_GOODBYE = 3;
export const KIND_HEARTBEAT = 4;
export const HEADER_BYTES = 20;
/** Size of one coalesced ZeroMQ message. */
export const CHUNK = 1024 * 1024;
/** Below this, a flushed chunk is copied out and the chunk reused (ZeroMQ keeps sent buffers). */
export const SMALL_FLUSH = 16 * 1024;
/** Bytes waiting in this process (not yet taken by ZeroMQ) before write() returns false. */
export const JS_HIGH_WATER = 4 * 1024 * 1024;
export const DEFAULT_HWM = 4;
export const DEFAULT_RCV_HWM = 16;
export const HEARTBEAT_MS = 1000;
export const GRACE_MS = 3 * HEARTBEAT_MS;
export const DEFAULT_LINGER_MS = 10_000;
export const RECHECK_FIRST_MS = 10;
/** How long a gone process's last bytes may trail its disconnect event. */
export const SETTLE_MS = 150;
export const RECHECK_MAX_MS = 640;
/** A GOODBYE can overtake the ROUTER's registration of that producer's DEALER: retry the answer, backing off, for about this long. */
export const ACK_RETRY_MS = 5000;
/** How long the receiver's ROUTER may still deliver answers after close(). */
export const ACK_LINGER_MS = 2000;
/** How long a producer waiting for that answer still expects it after a disconnect event. */
export const ACK_GRACE_MS = 500;

export function positiveInt(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer; got ${value}`);
  return value;
}

/**
 * What the receiver's ROUTER sends a producer's DEALER: an empty frame
 * answers its HELLO or GOODBYE; PROBE asks nothing and is skipped. A probe
 * that the ROUTER cannot route (EHOSTUNREACH: ZMQ_ROUTER_MANDATORY) means
 * the producer's connection is gone, which the kernel does when its
 * process dies: a liveness sign that needs no pid and works over tcp://.
 */
export const PROBE = Buffer.from("p");

/** Waits for the receiver's answer on `ack`, skipping probes. */
export async function answered(ack: { receive(): Promise<Buffer[]> }): Promise<void> {
  for (;;) {
    const [frame] = await ack.receive();
    if (!frame || frame.length === 0) return;
  }
}

/** The routing id of a producer's DEALER on the receiver's ROUTER. */
export function ackRoutingId(pid: number, session: number): string {
  return `${pid}.${session}`;
}

/**
 * HELLO: the header (sequence 0) and a JSON body saying where the producer
 * runs and, over ipc://, which peer slot it holds on the data socket's lock
 * file (`<file>.lock`): the receiver's only sign of its liveness besides
 * heartbeats. The pid names the process in its own pid namespace and is
 * never trusted for liveness.
 */
export function helloMessage(pid: number, session: number, slot: number | undefined): Buffer {
  const body = Buffer.from(JSON.stringify(slot === undefined ? { host: hostname(), pid } : { host: hostname(), pid, slot }));
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  body.copy(buf, HEADER_BYTES);
  writeHeader(buf, KIND_HELLO, pid, session, 0, 0);
  return buf;
}

export function writeHeader(buf: Buffer, kind: number, pid: number, session: number, seq: number, count: number): void {
  buf[0] = MAGIC;
  buf[1] = VERSION;
  buf[2] = kind;
  buf[3] = 0;
  buf.writeUInt32LE(pid, 4);
  buf.writeUInt32LE(session, 8);
  buf.writeUInt32LE(seq, 12);
  buf.writeUInt32LE(count, 16);
}
