// An Executor whose workers are on other hosts: prints its endpoint, then the results.
//   node executor.mjs <listen endpoint> (secret in IPCS_SECRET)
import { Executor } from "@ipc-sampler/process";
import { zeromqTransport } from "@ipc-sampler/zeromq";

const say = (o) => console.log(JSON.stringify(o));
const executor = await Executor.create({
  module: new URL("tasks.mjs", import.meta.url),
  maxWorkers: 0,
  remote: { transport: zeromqTransport, listen: { listen: process.argv[2], secret: process.env.IPCS_SECRET }, workers: 0 },
});
say({ endpoint: executor.remoteAddress.endpoint });
const futures = [3, 4, 5].map((n) => executor.submit("square", n));
say({ results: await Promise.all(futures.map((f) => f.result({ timeoutMs: 30_000 }))) });
await executor.shutdown();
say({ shutdown: true });
process.exit(0);
