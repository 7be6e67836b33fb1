export * from "./posix-mq.js";
