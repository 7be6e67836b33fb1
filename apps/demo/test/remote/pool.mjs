// A pool whose workers are on other hosts: prints one JSON line per step.
//   node pool.mjs <listen endpoint> <then: close | kill | none> (secret in IPCS_SECRET)
import { Pool } from "@ipc-sampler/process";
import { zeromqTransport } from "@ipc-sampler/zeromq";

const [listen, then] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));
const pool = await Pool.create({
  module: new URL("tasks.mjs", import.meta.url),
  processes: 0,
  remote: { transport: zeromqTransport, listen: { listen, secret: process.env.IPCS_SECRET }, heartbeatMs: 200, silenceMs: 2000 },
});
say({ endpoint: pool.remoteAddress.endpoint });
try {
  await pool.waitForRemoteWorkers(1, { timeoutMs: then === "none" ? 4000 : 30_000 });
} catch (err) {
  say({ waited: err.code, workers: pool.remoteWorkers });
  await pool.terminate();
  process.exit(0);
}
const squares = await pool.map("square", Array.from({ length: 1000 }, (_, i) => i), { chunksize: 10 });
say({ sum: squares.reduce((a, b) => a + b, 0), workers: pool.remoteWorkers });
if (then === "kill") {
  const pending = pool.apply("hang", []);
  setTimeout(() => say({ hanging: true }), 300);
  const t0 = Date.now();
  const err = await pending.then(() => undefined, (e) => e);
  say({ error: { name: err?.name, code: err?.code, message: err?.message }, afterMs: Date.now() - t0 });
  await pool.terminate();
} else {
  pool.close();
  await pool.join();
  say({ joined: true });
}
process.exit(0);
