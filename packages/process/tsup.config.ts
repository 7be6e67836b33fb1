import { packageConfig } from "../../tsup.base";

// `child` is the program every Process and Pool worker runs.
export default packageConfig({ index: "src/index.ts", child: "src/child.ts" });
