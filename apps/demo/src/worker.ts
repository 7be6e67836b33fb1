/**
 * `ipc-sampler worker --connect tcp://host:port`: serves a Pool that runs on
 * another host (Pool.create({ remote: { transport: zeromqTransport, listen:
 * { listen: "tcp://…", secret } } })). The worker listens too, on this host's
 * address towards the pool, and the pool connects back; both directions are
 * ZeroMQ over TCP with CURVE keys derived from the shared secret. It exits 0
 * when the pool closes it, 1 when the pool is lost or cannot be reached.
 *
 * The secret is read from a file or the environment, never from argv (which
 * every user of the machine can read with ps).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

export const WORKER_HELP = `usage: ipc-sampler worker --connect tcp://host:port [--secret-file <path>] [--listen tcp://addr:port] [--module <path>] [--name <name>] [--timeout-ms <ms>]

Serves a pool on another host over ZeroMQ tcp://, authenticated with the pool's
shared secret (CURVE): from --secret-file, else the IPCS_SECRET environment
variable. The pool's module must exist on this host: at the same path, or give
this host's copy with --module.

  --connect tcp://host:port  the pool's endpoint (Pool's remoteAddress.endpoint)
  --secret-file <path>       file holding the shared secret (trailing newline ignored)
  --listen tcp://addr:port   this worker's own endpoint, which the pool connects back to
                             (default: this host's address towards the pool, any port)
  --module <path>            this host's copy of the pool's module
  --name <name>              the worker's name in logs (default Worker@<host>-<pid>)
  --timeout-ms <ms>          how long to wait for the pool (default 10000)
`;

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { connect: { type: "string" }, "secret-file": { type: "string" }, listen: { type: "string" }, module: { type: "string" }, name: { type: "string" }, "timeout-ms": { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
    if (values.help) {
      process.stdout.write(WORKER_HELP);
      return 0;
    }
    if (typeof values.connect !== "string") throw new TypeError("--connect tcp://host:port is required");
    const timeout = values["timeout-ms"] === undefined ? undefined : Number(values["timeout-ms"]);
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) throw new TypeError(`--timeout-ms takes a positive integer, got ${values["timeout-ms"]}`);
    const file = values["secret-file"];
    const secret = typeof file === "string" ? readFileSync(file, "utf8").replace(/\r?\n$/, "") : process.env.IPCS_SECRET;
    delete process.env.IPCS_SECRET; // not handed on to anything this process starts
    if (secret === "") throw new TypeError("the shared secret is empty");
    const [{ runWorker }, { zeromqTransport }] = await Promise.all([import("@ipc-sampler/process"), import("@ipc-sampler/zeromq")]);
    await runWorker({
      connect: values.connect,
      transport: zeromqTransport,
      secret,
      listen: values.listen as string | undefined,
      module: values.module as string | undefined,
      name: values.name as string | undefined,
      timeoutMs: timeout,
    });
    // The worker program runs from here on and ends the process itself.
    return 0;
  } catch (err) {
    process.stderr.write(`ipc-sampler worker: ${(err as Error).message}\n${err instanceof TypeError && /--|secret/.test((err as Error).message) ? WORKER_HELP : ""}`);
    return 2;
  }
}
