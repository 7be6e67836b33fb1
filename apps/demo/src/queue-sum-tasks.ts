// The queue-sum scenario's worker: counts to `n` one by one, then puts its
// subtotal on the main process's channel (over the transport the demo chose).
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import type { Address, Transport } from "@ipc-sampler/core";
import { ObjectSender, v8Codec } from "@ipc-sampler/process";
import { transports } from "./transports.js";

export async function count(n: number, address: Address, transportId: string): Promise<void> {
  let increased = 0;
  for (let i = 0; i < n; i++) increased += 1;
  const entry = transports.find((t) => t.id === transportId);
  if (!entry) throw new TypeError(`unknown transport ${transportId}`);
  // The copy of the transport this process already loaded for its link to
  // the parent (its CommonJS build, by its real path): a copy under the
  // workspace symlink's path would not find the native modules' own dependencies.
  const require = createRequire(import.meta.url);
  const transport = (require(realpathSync(require.resolve(entry.packageName))) as Record<string, Transport>)[entry.exportName]!;
  const queue = new ObjectSender(await transport.connect(address), v8Codec);
  await queue.send(increased);
  await queue.close();
}
