import { packageConfig } from "../../tsup.base";

export default packageConfig({ index: "src/index.ts", "shared-counter-child": "src/shared-counter-child.ts" });
