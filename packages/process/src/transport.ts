import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Transport } from "@ipc-sampler/core";
import { udsTransport } from "@ipc-sampler/socket";

/**
 * A child process must load the same transport as its parent. A Transport is
 * a value and cannot cross a process boundary, so the parent finds the module
 * that exports it: the one given with `transportModule`, or the package that
 * publishes the transport's id, resolved from this package, the main script
 * and the working directory.
 */
export interface TransportSource {
  /** Absolute file URL or path of the module, and the name it exports the transport under. */
  readonly module: string;
  readonly export: string;
  /** The package name, which a child tries first: it resolves to the ESM build this package already loaded. */
  readonly package?: string | undefined;
}

const known: Record<string, [string, string]> = {
  uds: ["@ipc-sampler/socket", "udsTransport"],
  tcp: ["@ipc-sampler/socket", "tcpTransport"],
  fifo: ["@ipc-sampler/fifo", "fifoTransport"],
  mqueue: ["@ipc-sampler/mqueue", "mqueueTransport"],
  zeromq: ["@ipc-sampler/zeromq", "zeromqTransport"],
  shm: ["@ipc-sampler/shm", "shmTransport"],
  mmap: ["@ipc-sampler/mmap", "mmapTransport"],
  semaphore: ["@ipc-sampler/semaphore", "semaphoreTransport"],
};

export const defaultTransport: Transport = udsTransport as Transport;

export interface TransportChoice {
  /** The transport both directions use (default: Unix domain sockets). */
  transport?: Transport | undefined;
  /** Where a child loads it from, when it is not one of ipc-sampler's own packages. */
  transportModule?: TransportSource | undefined;
}

function resolveFrom(base: string, specifier: string): string | undefined {
  try {
    return createRequire(base).resolve(specifier);
  } catch {
    return undefined;
  }
}

export function transportSource(choice: TransportChoice): TransportSource {
  if (choice.transportModule) return choice.transportModule;
  const transport = choice.transport ?? defaultTransport;
  if (transport.descriptor.naming === "inherited descriptor") {
    throw new TypeError(`the ${transport.descriptor.id} transport reaches only the process that inherits its descriptors; a child process cannot connect back to its parent over it: use a named transport (uds, tcp, fifo, mqueue, …)`);
  }
  const entry = known[transport.descriptor.id];
  if (!entry) throw new TypeError(`unknown transport ${transport.descriptor.id}: pass transportModule: { module, export } naming the module that exports it`);
  const bases = [__filename, process.argv[1] ? path.resolve(process.argv[1]) : undefined, path.join(process.cwd(), "index.js")];
  for (const base of bases) {
    const file = base && resolveFrom(base, entry[0]);
    if (file) return { module: pathToFileURL(file).href, export: entry[1], package: entry[0] };
  }
  throw new TypeError(`cannot find ${entry[0]} (for the ${transport.descriptor.id} transport) from this package, the main script or the working directory: install it, or pass transportModule`);
}

/** In the child: the transport the parent named. */
export async function loadTransport(source: TransportSource): Promise<Transport> {
  let mod: Record<string, unknown> | undefined;
  if (source.package) mod = (await import(source.package).catch(() => undefined)) as Record<string, unknown> | undefined;
  mod ??= (await import(source.module)) as Record<string, unknown>;
  const t = (mod[source.export] ?? (mod.default as Record<string, unknown> | undefined)?.[source.export]) as Transport | undefined;
  if (!t || typeof t.listen !== "function") throw new TypeError(`${source.module} does not export a transport named ${source.export}`);
  return t;
}
