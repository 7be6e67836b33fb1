import { describe, expect, it } from "vitest";
import { ProducerTally } from "../src/index.js";

describe("ProducerTally", () => {
  it("with expectedProducers, finishes once that many closed or were lost", () => {
    const t = new ProducerTally(2);
    expect(t.finished).toBe(false);
    expect([t.attach(), t.attach(), t.attach()]).toEqual([0, 1, 2]);
    t.closed();
    expect(t.finished).toBe(false);
    t.lost();
    expect(t.finished).toBe(true);
    expect(t.counts).toEqual({ attached: 3, closed: 1, lost: 1 });
  });

  it("without, finishes once someone attached and everyone who did has finished", () => {
    const t = new ProducerTally(undefined);
    expect(t.finished).toBe(false); // nobody yet is not the end
    t.attach();
    t.attach();
    t.lost();
    expect(t.finished).toBe(false);
    t.closed();
    expect(t.finished).toBe(true);
  });

  it("refuses an expectedProducers that is not a positive integer", () => {
    for (const n of [0, -1, 1.5, Number.NaN]) expect(() => new ProducerTally(n)).toThrow(RangeError);
  });
});
