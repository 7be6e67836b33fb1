// apply() round trip against the transport's own round trip, interleaved:
//   pnpm build && node packages/process/bench/apply-rt.mjs
// The transport's figure comes from the demo's ping-pong (apps/demo/dist/pingpong.js,
// the same two-channel topology: each side listens and attaches to the other);
// ours is the p50 of 3,000 sequential pool.apply calls on a 1-worker pool.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Pool } from "@ipc-sampler/process";
import * as socket from "@ipc-sampler/socket";

const module = new URL("./square.mjs", import.meta.url);
const pingpong = fileURLToPath(new URL("../../../apps/demo/dist/pingpong.js", import.meta.url));
for (const [id, exportName] of [["uds", "udsTransport"], ["tcp", "tcpTransport"]]) {
  for (let round = 0; round < 3; round++) {
    const job = JSON.stringify({ entry: { id, packageName: "@ipc-sampler/socket", exportName }, roundTrips: 3000, size: 64, warmup: 300 });
    const pp = JSON.parse(execFileSync(process.execPath, [pingpong, job], { encoding: "utf8" }).trim().split("\n").pop());
    const pool = await Pool.create({ module, processes: 1, transport: socket[exportName] });
    for (let i = 0; i < 300; i++) await pool.apply("square", [i]);
    const rt = [];
    for (let i = 0; i < 3000; i++) {
      const t = performance.now();
      await pool.apply("square", [i]);
      rt.push(performance.now() - t);
    }
    rt.sort((a, b) => a - b);
    await pool.terminate();
    const p50 = rt[1500] * 1000;
    console.log(JSON.stringify({ transport: id, transportP50Us: pp.p50Us, applyP50Us: +p50.toFixed(1), ratio: +(p50 / pp.p50Us).toFixed(2) }));
  }
}
