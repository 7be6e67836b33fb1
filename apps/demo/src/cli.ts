#!/usr/bin/env node
/**
 * ipc-sampler [command] [options]: the published CLI and `pnpm demo`,
 * `pnpm bench`, `pnpm clean-stale` in the repository. A command is a module
 * whose `main(argv)` resolves with the exit code; without a command name the
 * arguments go to `demo`. A UsageError is one line on stderr and exit code 2.
 */
import { UsageError } from "./options.js";

interface Command {
  readonly summary: string;
  readonly main: (argv: string[]) => Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  demo: { summary: "run the producer/consumer scenario over one transport or all (the default)", main: async (argv) => (await import("./demo.js")).main(argv, commandList()) },
  bench: { summary: "the benchmark matrix: every transport, several sizes, round trips, references", main: async (argv) => (await import("./bench.js")).main(argv) },
  worker: { summary: "serve a pool on another host: --connect tcp://host:port (ZeroMQ, shared secret)", main: async (argv) => (await import("./worker.js")).main(argv) },
  clean: { summary: "remove resources no live process owns (--list, --dry-run)", main: async (argv) => (await import("./clean.js")).runClean(argv) },
};

function commandList(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return `Commands:\n${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`).join("\n")}\n`;
}

async function main(argv: string[]): Promise<void> {
  const named = argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]);
  const name = named ? argv[0]! : "demo";
  try {
    process.exitCode = await COMMANDS[name]!.main(named ? argv.slice(1) : argv);
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error)?.message ?? err}\n`);
    if (err instanceof UsageError) process.exit(2);
    process.exitCode = 1;
  }
}

void main(process.argv.slice(2));
