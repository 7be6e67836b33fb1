/**
 * Command-line parsing shared by every `ipc-sampler` command: `node:util`
 * parseArgs does the parsing, a table of option specs drives both it and the
 * generated `--help`, so an option and its help line cannot drift apart.
 * Errors are one line and exit code 2.
 */
import { parseArgs } from "node:util";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface OptionSpec {
  readonly type: "string" | "boolean";
  /** The value's placeholder in --help (`<id>`); string options only. */
  readonly value?: string;
  /** One line of help. */
  readonly help: string;
  /** The default as --help shows it (booleans: off). */
  readonly default?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export type ParsedOptions<S extends OptionSpecs> = {
  [K in keyof S]?: S[K]["type"] extends "boolean" ? boolean : string;
};

/** The name node:util puts in quotes: `'--size <value>'` -> `size`. */
function optionName(message: string): string {
  return /'-{1,2}([^' ]+)/.exec(message)?.[1] ?? "?";
}

/** Parses `argv` against `specs` (strict: unknown options and stray arguments are errors). */
export function parseCommandLine<S extends OptionSpecs>(argv: readonly string[], specs: S): ParsedOptions<S> {
  const options = Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, { type: spec.type }]));
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as ParsedOptions<S>;
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new UsageError(`unknown option ${/'([^']+)'/.exec(message)?.[1] ?? ""} (see --help)`);
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") throw new UsageError(`unexpected argument "${/'([^']*)'/.exec(message)?.[1] ?? ""}" (see --help)`);
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const name = optionName(message);
      throw new UsageError(specs[name]?.type === "boolean" ? `--${name} takes no value` : `--${name} needs a value`);
    }
    throw err;
  }
}

/** The help text: usage lines, a summary, then every option with its default. */
export function formatHelp(usage: readonly string[], summary: string, specs: OptionSpecs, footer = ""): string {
  const left = Object.entries(specs).map(([name, spec]) => `--${name}${spec.type === "string" ? ` <${spec.value ?? "value"}>` : ""}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  const lines = Object.entries(specs).map(([name, spec], i) => {
    const def = spec.default ?? (spec.type === "boolean" && name !== "help" ? "off" : undefined);
    return `  ${left[i]!.padEnd(width)}${spec.help}${def !== undefined ? ` (default: ${def})` : ""}`;
  });
  return `${summary}\n\n${usage.map((u) => `  ${u}`).join("\n")}\n\nOptions:\n${lines.join("\n")}\n${footer ? `\n${footer}` : ""}`;
}

/** A positive integer option, with optional `k`/`m` suffix (100k, 1m) and `KiB`/`MiB` for sizes. */
export function integerOption(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)(k|m|kib|mib|b)?$/i.exec(raw.trim());
  if (!m) throw new UsageError(`--${name} must be a whole number (e.g. 100000, 100k, 64KiB); got "${raw}"`);
  const unit = (m[2] ?? "").toLowerCase();
  const scale = unit === "k" ? 1e3 : unit === "m" ? 1e6 : unit === "kib" ? 1024 : unit === "mib" ? 1024 * 1024 : 1;
  const value = Number(m[1]) * scale;
  if (!Number.isInteger(value)) throw new UsageError(`--${name} must be a whole number; got "${raw}"`);
  if (value < min || value > max) throw new UsageError(`--${name} must be between ${min} and ${max}; got ${value}`);
  return value;
}
