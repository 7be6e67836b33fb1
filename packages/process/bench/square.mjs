// The work the pool benchmarks hand out, and an empty target.
export const square = (x) => x * x;
export const squares = (xs) => xs.map((x) => x * x);
export const nothing = () => {};

// As a plain child_process.fork worker: answer each message with its squares.
if (process.send && process.env.FORK_POOL_WORKER) {
  process.on("message", ([id, xs]) => process.send([id, squares(xs)]));
}
