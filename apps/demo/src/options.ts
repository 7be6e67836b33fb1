/** Command-line parsing shared by the demo and the benchmark; errors are one line and exit code 2. */

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
}

/** `--name value`, `--name=value`, `--flag`, `--no-flag`. */
export function parseArgs(argv: readonly string[], booleans: ReadonlySet<string>, valued: ReadonlySet<string>): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!booleans.has(name) && !valued.has(name)) throw new UsageError(`unknown option --${name} (see --help)`);
    if (booleans.has(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (eq >= 0) {
      flags.set(name, arg.slice(eq + 1));
    } else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
      i++;
    }
  }
  return { flags, positionals };
}

/** A positive integer option, with optional `k`/`m` suffix (100k, 1m) and `KiB`/`MiB` for sizes. */
export function integerOption(flags: Map<string, string | true>, name: string, fallback: number, min: number, max: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  if (raw === true) throw new UsageError(`--${name} needs a value`);
  const m = /^(\d+(?:\.\d+)?)(k|m|kib|mib|b)?$/i.exec(raw.trim());
  if (!m) throw new UsageError(`--${name} must be a whole number (e.g. 100000, 100k, 64KiB); got "${raw}"`);
  const unit = (m[2] ?? "").toLowerCase();
  const scale = unit === "k" ? 1e3 : unit === "m" ? 1e6 : unit === "kib" ? 1024 : unit === "mib" ? 1024 * 1024 : 1;
  const value = Number(m[1]) * scale;
  if (!Number.isInteger(value)) throw new UsageError(`--${name} must be a whole number; got "${raw}"`);
  if (value < min || value > max) throw new UsageError(`--${name} must be between ${min} and ${max}; got ${value}`);
  return value;
}
