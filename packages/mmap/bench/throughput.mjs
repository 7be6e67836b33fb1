// Throughput of one producer process into one consumer process over an mmap journal.
//   node bench/throughput.mjs [size=64] [count]
// The producer appends `count` messages of `size` bytes with write()/drain();
// the consumer follows the journal in batches and touches the first byte of
// each message. Prints one JSON line. DIR picks the file system (default
// os.tmpdir()); CHECKSUM=0 turns record checksums off.
import { fileURLToPath } from "node:url";
import { runThroughputBench } from "@ipc-sampler/core/fixtures";

const { mmapTransport } = await import(new URL("../dist/index.js", import.meta.url).href);

await runThroughputBench(fileURLToPath(import.meta.url), {
  name: "mmap",
  transport: mmapTransport,
  listenOptions: () => ({ segmentBytes: 64 << 20, retainSegments: 2, checksum: process.env.CHECKSUM !== "0", ...(process.env.DIR ? { directory: `${process.env.DIR}/bench-${process.pid}`, keep: false } : {}) }),
  defaultCount: (size) => (size <= 1024 ? 5_000_000 : Math.max(2000, Math.floor(4e9 / size))),
});
