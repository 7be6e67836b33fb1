// The functions the pool-map scenario's and the bench's workers run, and an empty target.
export const square = (x: number): number => x * x;
export const nothing = (): void => {};

// Started by the bench as a plain child_process.fork worker (the baseline pool):
// answer each [id, ints] message with [id, their squares].
if (process.send && process.env.IPCS_FORK_POOL_WORKER === "1") {
  process.on("message", (m: [number, number[]]) => process.send!([m[0], m[1].map(square)]));
}
