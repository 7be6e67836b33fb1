import { packageConfig } from "../../tsup.base";

export default packageConfig({ cli: "src/cli.ts", consumer: "src/consumer.ts", producer: "src/producer.ts", bench: "src/bench.ts", pingpong: "src/pingpong.ts", "shared-counter": "src/shared-counter.ts", "shared-counter-child": "src/shared-counter-child.ts" }, { format: ["esm"], dts: false });
