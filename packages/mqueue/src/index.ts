export * from "./posix-mq.js";
export * from "./zeromq.js";
