import { PACKET_HEADER_BYTES } from "@ipc-sampler/core";

/**
 * The FIFO carries core's packet protocol (see packets.ts in @ipc-sampler/core)
 * with the body length in the header word (`kind << 12 | length`): packets
 * follow each other in one byte stream. Every write(2) is one packet of at
 * most PIPE_BUF bytes, which the kernel never interleaves with another
 * writer's, so any number of producers can share the FIFO.
 */
export const PACKET_BYTES = 4096;
export const BODY_MAX = PACKET_BYTES - PACKET_HEADER_BYTES;
