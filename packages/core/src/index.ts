export * from "./errors.js";
export * from "./names.js";
export * from "./interface.js";
export * from "./framing.js";
export * from "./checksum.js";
export * from "./scenario.js";
export * from "./receiver-core.js";
export * from "./cleanup.js";
