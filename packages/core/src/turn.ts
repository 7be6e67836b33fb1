/**
 * Event-loop turns. A receiver that finds a message ready every time it looks
 * (a spin that always succeeds, a ring a producer refills as fast as it is
 * read) delivers in one chain of microtasks and never gives the event loop
 * back: the timers, sockets and child processes of the process it lives in
 * stop. Such a receiver times its run of deliveries made without waiting for
 * the event loop and, past `TURN_MS`, lets one turn run (`nextTurn()`, or the
 * sleeping path that waits for a readiness callback). Each keeps its own
 * clock: asking the event loop whether it turned costs a timer per turn.
 */

/** How long a receiver may keep the event loop from turning while it finds work. */
export const TURN_MS = 2;

/** Resolves after the event loop has turned once (timers, I/O callbacks, immediates). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
