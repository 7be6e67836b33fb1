import { connect as netConnect, type Socket, type NetConnectOpts } from "node:net";
import { ChannelError, fromSystemError } from "@ipc-sampler/core";

const RETRYABLE = new Set(["ECONNREFUSED", "ENOENT", "EAGAIN"]);

/**
 * Connects, retrying while nobody listens yet, so a producer that starts
 * before its consumer waits for it, up to `timeoutMs`, then fails with
 * ETIMEDOUT instead of hanging.
 */
export function connectWithRetry(options: NetConnectOpts, resource: string, timeoutMs: number): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = netConnect(options);
      const onError = (err: NodeJS.ErrnoException) => {
        socket.destroy();
        if (err.code && RETRYABLE.has(err.code) && Date.now() + delay < deadline) {
          setTimeout(attempt, delay);
          delay = Math.min(delay * 2, 200);
        } else if (err.code && RETRYABLE.has(err.code)) {
          reject(new ChannelError("ETIMEDOUT", `cannot connect to ${resource}: no receiver there after ${timeoutMs} ms`, { errno: err.code, syscall: "connect", resource, cause: err }));
        } else {
          reject(fromSystemError(err, "connect to", resource));
        }
      };
      socket.once("error", onError);
      socket.once("connect", () => {
        socket.off("error", onError);
        resolve(socket);
      });
    };
    attempt();
  });
}
