import { packageConfig } from "../../tsup.base";

export default packageConfig({
  index: "src/index.ts",
  stream: "src/stream.ts",
  conformance: "src/conformance/index.ts",
  fixtures: "src/conformance/fixtures.ts",
  "conformance-producer": "src/conformance/producer.ts",
  "conformance-receiver": "src/conformance/receiver.ts",
}, { external: ["vitest"] });
