export * from "./wire.js";
export * from "./sender.js";
export * from "./reader.js";
export * from "./receiver.js";
