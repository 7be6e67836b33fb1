// The functions the pool-map scenario's workers run.
export const square = (x: number): number => x * x;
