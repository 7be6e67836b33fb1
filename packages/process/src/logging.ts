import { shared, type LogLevel } from "./state.js";

/**
 * multiprocessing's logger: `[LEVEL/ProcessName] message` on stderr. Off
 * until logToStderr() is called; children started afterwards log at the
 * same level, and report their lifecycle (start, exit code) the way the
 * notes show.
 */
const order: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  setLevel(level: LogLevel | undefined): void;
  readonly level: LogLevel | undefined;
}

function emit(level: LogLevel, message: string): void {
  const current = shared().logLevel;
  if (current === undefined || order[level] < order[current]) return;
  process.stderr.write(`[${level}/${shared().info.name}] ${message}\n`);
}

const logger: Logger = {
  debug: (m) => emit("DEBUG", m),
  info: (m) => emit("INFO", m),
  warning: (m) => emit("WARNING", m),
  error: (m) => emit("ERROR", m),
  setLevel: (level) => {
    shared().logLevel = level;
  },
  get level() {
    return shared().logLevel;
  },
};

/** The package's logger (silent until a level is set). */
export function getLogger(): Logger {
  return logger;
}

/** Turns logging on at `level` (default INFO) and returns the logger. */
export function logToStderr(level: LogLevel = "INFO"): Logger {
  logger.setLevel(level);
  return logger;
}
