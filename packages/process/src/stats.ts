/** The last SIZE samples of a duration, for percentiles (memory bounded, no per-sample allocation). */
export class Samples {
  private static readonly SIZE = 4096;
  private readonly values = new Float64Array(Samples.SIZE);
  private n = 0;

  add(ms: number): void {
    this.values[this.n++ % Samples.SIZE] = ms;
  }

  summary(): { count: number; p50: number; p90: number; p99: number; max: number } {
    const k = Math.min(this.n, Samples.SIZE);
    if (k === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0 };
    const sorted = this.values.slice(0, k).sort();
    const at = (q: number) => sorted[Math.min(k - 1, Math.floor(q * k))]!;
    return { count: this.n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[k - 1]! };
  }
}

export interface PoolStats {
  /** Worker processes alive now, and how many of them run a task. */
  processes: number;
  busy: number;
  /** Tasks waiting for a worker. */
  queued: number;
  submitted: number;
  completed: number;
  failed: number;
  aborted: number;
  /** Workers that died on their own (crash, kill from outside, out of memory). */
  crashed: number;
  /** Workers retired after maxTasksPerChild and replaced. */
  recycled: number;
  /** Share of worker time spent running tasks since the pool started (0–1). */
  utilization: number;
  /** Milliseconds a task waited in the queue before a worker took it. */
  waitMs: ReturnType<Samples["summary"]>;
  /** Milliseconds from handing a task to a worker to its result arriving (run plus transport). */
  runMs: ReturnType<Samples["summary"]>;
  /**
   * Milliseconds a task's round trip spent outside the child: runMs minus the
   * time from the child reading the task's message to writing its result
   * (both one-way trips, encoding, and any wait for the child's event loop to
   * read the message). Samples from a child whose account is impossible are dropped.
   */
  transportMs: ReturnType<Samples["summary"]>;
}
