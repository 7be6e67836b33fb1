/**
 * The receiving process the conformance kit starts to check cleanup:
 *   node receiver.js <module-url> <export-name> <listen-options-json> <signal|exit>
 * It listens, prints {"address": …} on stdout, then waits for a signal, or
 * with "exit" ends by process.exit(0) without closing the receiver.
 */
import type { Transport } from "../interface.js";

async function main(): Promise<void> {
  const [moduleUrl, exportName, optionsJson, end] = process.argv.slice(2);
  const transport = ((await import(moduleUrl!)) as Record<string, Transport>)[exportName!];
  if (!transport) throw new Error(`${moduleUrl} has no export ${exportName}`);
  const receiver = await transport.listen(JSON.parse(optionsJson!) as Record<string, unknown>);
  process.stdout.write(JSON.stringify({ address: receiver.address }) + "\n");
  if (end === "exit") setTimeout(() => process.exit(0), 200);
  else setInterval(() => {}, 1 << 30);
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ fatal: String((err as Error)?.stack ?? err) }) + "\n");
  process.exitCode = 1;
});
