/**
 * The receiving process the conformance kit starts to check cleanup:
 *   node receiver.js <module-url> <export-name> <listen-options-json> <signal|exit|echo> [reply-address-json]
 * It listens, prints {"address": …} on stdout, then waits for a signal, or
 * with "exit" ends by process.exit(0) without closing the receiver, or with
 * "echo" writes every message back to the reply address (write() alone,
 * never flush or drain) until its producer closes.
 */
import type { Address, Transport } from "../interface.js";

async function main(): Promise<void> {
  const [moduleUrl, exportName, optionsJson, end] = process.argv.slice(2);
  const transport = ((await import(moduleUrl!)) as Record<string, Transport>)[exportName!];
  if (!transport) throw new Error(`${moduleUrl} has no export ${exportName}`);
  const reply = end === "echo" ? await transport.connect(JSON.parse(process.argv[6]!) as Address) : undefined;
  const receiver = await transport.listen(JSON.parse(optionsJson!) as Record<string, unknown>);
  process.stdout.write(JSON.stringify({ address: receiver.address }) + "\n");
  if (reply) {
    for await (const b of receiver.batches()) {
      for (let i = 0; i < b.count; i++) reply.write(b.data.subarray(b.offsets[2 * i]!, b.offsets[2 * i]! + b.offsets[2 * i + 1]!));
    }
    await reply.close();
    await receiver.close();
    return;
  }
  if (end === "exit") setTimeout(() => process.exit(0), 200);
  else setInterval(() => {}, 1 << 30);
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ fatal: String((err as Error)?.stack ?? err) }) + "\n");
  process.exitCode = 1;
});
