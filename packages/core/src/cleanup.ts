/**
 * Removes what channels created when the process ends: on normal exit and on
 * SIGINT/SIGTERM. Signal handlers are installed only while something is
 * registered, and re-raise the signal afterwards so the exit status stays
 * the one the signal implies.
 */
/** Removes one resource; called at most once, on close or on the way out. */
export type Remover = () => void;

const removers = new Set<Remover>();
let installed = false;

function runAll(): void {
  for (const r of removers) {
    try {
      r();
    } catch {
      // best effort: the process is ending
    }
  }
  removers.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  runAll();
  uninstall();
  // Only re-raise if nobody else handles the signal; otherwise they decide.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runAll);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off("exit", runAll);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}

/** Registers a synchronous remover; returns the function that unregisters it. */
export function removeOnExit(remover: Remover): () => void {
  removers.add(remover);
  install();
  return () => {
    removers.delete(remover);
    if (removers.size === 0) uninstall();
  };
}
