import { connect as netConnect, type Socket, type NetConnectOpts } from "node:net";
import { ChannelError, attachWithRetry, fromSystemError } from "@ipc-sampler/core";

const RETRYABLE = new Set(["ECONNREFUSED", "ENOENT", "EAGAIN"]);

function connectOnce(options: NetConnectOpts): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(options);
    const onError = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      resolve(socket);
    });
  });
}

/**
 * Connects, retrying while nobody listens yet, so a producer that starts
 * before its consumer waits for it, up to `timeoutMs`, then fails with
 * ETIMEDOUT instead of hanging.
 */
export function connectWithRetry(options: NetConnectOpts, resource: string, timeoutMs: number): Promise<Socket> {
  return attachWithRetry(() => connectOnce(options), {
    timeoutMs,
    maxDelayMs: 200,
    absent: (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      return code && RETRYABLE.has(code) ? code : undefined;
    },
    timedOut: (code, err) => new ChannelError("ETIMEDOUT", `cannot connect to ${resource}: no receiver there after ${timeoutMs} ms`, { errno: code, syscall: "connect", resource, cause: err }),
    failed: (err) => fromSystemError(err, "connect to", resource),
  });
}
