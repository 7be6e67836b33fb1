// The functions the remote pool runs (the same path on both hosts).
export const square = (n) => n * n;
/** Never settles, with the worker's event loop free: only the worker's loss ends it. */
export const hang = () => new Promise(() => {});
