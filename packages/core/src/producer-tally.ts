import type { ProducerCounts } from "./interface.js";

/**
 * Who has attached, closed and been lost, and whether that is everyone: the
 * end-of-stream rule every receiver shares. With `expectedProducers`, the
 * stream ends once that many have finished; without, once at least one
 * attached and every one that did has finished.
 */
export class ProducerTally {
  private attachedCount = 0;
  private closedCount = 0;
  private lostCount = 0;

  constructor(private readonly expected: number | undefined) {
    if (expected !== undefined && (!Number.isInteger(expected) || expected < 1)) {
      throw new RangeError(`expectedProducers must be a positive integer; got ${expected}`);
    }
  }

  get counts(): ProducerCounts {
    return { attached: this.attachedCount, closed: this.closedCount, lost: this.lostCount };
  }

  /** Every producer has finished (closed or lost). */
  get finished(): boolean {
    const done = this.closedCount + this.lostCount;
    return this.expected !== undefined ? done >= this.expected : this.attachedCount > 0 && done >= this.attachedCount;
  }

  /** Counts a producer that attached; returns its number. */
  attach(): number {
    return this.attachedCount++;
  }

  closed(): void {
    this.closedCount++;
  }

  lost(): void {
    this.lostCount++;
  }
}
