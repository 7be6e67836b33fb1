// Throughput of one producer process into one consumer process over shm.
//   node bench/throughput.mjs [size=64] [count]
// The producer writes `count` messages of `size` bytes with write()/drain()
// (batched publication); the consumer reads zero-copy batches and touches
// the first byte of each message. Prints one JSON line. RING sets ringBytes.
import { fileURLToPath } from "node:url";
import { runThroughputBench } from "@ipc-sampler/core/fixtures";

const { shmTransport } = await import(new URL("../dist/index.js", import.meta.url).href);

await runThroughputBench(fileURLToPath(import.meta.url), {
  name: "shm",
  transport: shmTransport,
  listenOptions: (size) => ({ ringBytes: Number(process.env.RING ?? Math.max(4 << 20, size * 8)) }),
  defaultCount: (size) => (size <= 1024 ? 5_000_000 : Math.max(2000, Math.floor(8e9 / size))),
});
