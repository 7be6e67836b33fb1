import { cpSync } from "node:fs";
import { packageConfig } from "../../tsup.base";

// Entry points are the CLI and the processes it starts; the benchmark's reference
// implementations are copied beside them so an installed CLI can run them too.
export default packageConfig(
  { cli: "src/cli.ts", run: "src/run.ts", consumer: "src/consumer.ts", producer: "src/producer.ts", pingpong: "src/pingpong.ts", "shared-counter": "src/shared-counter.ts", "shared-counter-child": "src/shared-counter-child.ts", "pool-map-tasks": "src/pool-map-tasks.ts", "queue-sum-tasks": "src/queue-sum-tasks.ts", registry: "src/registry.ts" },
  {
    format: ["esm"],
    dts: false,
    onSuccess: async () => {
      cpSync("../../bench/reference", "dist/reference", { recursive: true, filter: (src) => !/\/(results|build)(\/|$)/.test(src) });
    },
  },
);
