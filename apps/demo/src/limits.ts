/**
 * Message-size limits, checked before any process starts: the demo refuses a
 * run (or skips a row of `--transport all`) and the benchmark skips a case
 * whose messages a transport cannot carry, with the same words. The limit is
 * the transport's descriptor's maxMessageSize, or the --max-message-size its
 * receiver is asked for; the reason comes from the transport registry.
 */
import type { MechanismDescriptor } from "@ipc-sampler/core";
import { loadTransport, transports, type TransportEntry } from "./transports.js";

/** Descriptors of the registered transports that load on this machine, by id. */
export async function loadDescriptors(entries: readonly TransportEntry[] = transports): Promise<Map<string, MechanismDescriptor>> {
  const out = new Map<string, MechanismDescriptor>();
  for (const entry of entries) {
    try {
      out.set(entry.id, (await loadTransport(entry)).descriptor);
    } catch {
      // Not loadable here: the run itself reports why.
    }
  }
  return out;
}

export interface SizeRefusal {
  /** The largest message the transport would carry in this run. */
  readonly limit: number;
  /** A row's reason: "over its 65,516-byte limit: …". */
  readonly short: string;
  /** One line naming the transport, its limit, why it has one and what lifts it. */
  readonly line: string;
}

const n = (x: number) => x.toLocaleString("en-US");
const list = (ids: string[]) => (ids.length > 1 ? `${ids.slice(0, -1).join(", ")} or ${ids[ids.length - 1]}` : (ids[0] ?? "another transport"));

/**
 * Why `size`-byte messages cannot go over `entry`, or undefined when they
 * can. `maxMessageSize` is the limit asked of the receiver (it lifts a limit
 * only where the transport's listen sizes the channel to it).
 */
export function sizeRefusal(
  entry: TransportEntry,
  size: number,
  descriptors: ReadonlyMap<string, MechanismDescriptor>,
  maxMessageSize?: number,
): SizeRefusal | undefined {
  const descriptor = descriptors.get(entry.id);
  if (!descriptor) return undefined;
  const limit = maxMessageSize !== undefined && entry.limitLifts ? maxMessageSize : descriptor.maxMessageSize;
  if (size <= limit) return undefined;
  const others = transports.filter((t) => t.id !== entry.id && descriptors.has(t.id));
  const fit = others.filter((t) => descriptors.get(t.id)!.maxMessageSize >= size).map((t) => t.id);
  const elsewhere = fit.length
    ? `choose ${list(fit)}`
    : `choose ${list(others.filter((t) => t.limitLifts).map((t) => t.id))} with --max-message-size ${size}`;
  const lift = entry.limitLifts && maxMessageSize === undefined ? `--max-message-size ${size} lifts it, or ${elsewhere}` : elsewhere;
  const why = maxMessageSize !== undefined && entry.limitLifts ? "that is the --max-message-size given" : entry.limitReason;
  return {
    limit,
    short: `over its ${n(limit)}-byte message limit: ${why}`,
    line: `${entry.id} carries messages of at most ${n(limit)} bytes, because ${why}; --size ${size} is over it. ${lift[0]!.toUpperCase()}${lift.slice(1)}.`,
  };
}
