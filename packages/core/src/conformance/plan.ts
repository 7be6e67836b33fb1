/** What a conformance producer process does; shared by the kit and the producer script. */
export type ProducerPlan =
  /** Scenario messages, then close. */
  | { kind: "scenario"; producerId: number; count: number; size: number }
  /** Messages of these sizes filled with pattern(seed), then close. */
  | { kind: "raw"; sizes: number[]; seed: number }
  /** `count` messages of `size` bytes from one buffer: filled with pattern(i), written, then overwritten at once (drain() only after a false). */
  | { kind: "rewrite"; count: number; size: number }
  /** Try one message of maxMessageSize + 1, report the error, send a 3-byte marker, close. */
  | { kind: "oversize" }
  /** `count` scenario messages, print "ready", then large messages until killed. */
  | { kind: "kill-mid"; count: number; size: number; bigSize: number }
  /** Report "ready", send `size`-byte messages back to back (never pausing but in drain()) for `ms`, report how many, close. */
  | { kind: "flood"; size: number; ms: number }
  /** Report "connected", then scenario messages until sending fails; report the error and exit 0. */
  | { kind: "until-gone"; size: number }
  /** `count` scenario messages (at most maxMessageSize bytes each) with write() alone, never drain(); report how many write()s returned false, then stay attached until killed. */
  | { kind: "ignore-false"; count: number; size: number }
  /** Connect with this timeout, send one message and close; report the first error (and when) or done. */
  | { kind: "late"; timeoutMs: number };

/** Deterministic bytes for raw messages, so both sides can check them. */
export function fillPattern(target: Uint8Array, seed: number): Uint8Array {
  let x = (seed * 2654435761 + target.length) >>> 0 || 1;
  for (let i = 0; i < target.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    target[i] = x & 0xff;
  }
  return target;
}

/**
 * Times this process's event loop: a timer every `periodMs`; `stop()` ends it
 * and returns the longest gap between two of its ticks (ms), which is how
 * long something held the loop.
 */
export function watchLoopGaps(periodMs = 5): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, periodMs);
  return {
    stop() {
      clearInterval(timer);
      return worst;
    },
  };
}
