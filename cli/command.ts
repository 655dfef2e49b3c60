import type { ParseArgsConfig } from 'node:util';
import type { Client } from './client.ts';
import type { ExitCode } from './exit-codes.ts';

/** Where a command writes: stdout or stderr, and whether it is a terminal. */
export interface Output {
  write(text: string): void;
  /** True when a person is watching: progress redraws one line instead of printing many. */
  isTTY: boolean;
  /** The terminal's width in columns (80 when unknown). */
  columns: number;
}

/** What a command runs with. */
export interface CommandContext {
  client: Client;
  stdout: Output;
  stderr: Output;
  /** `--json`: machine-readable output on stdout. */
  json: boolean;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  /** The directory relative paths are read from and written to. */
  cwd: string;
}

/** The parsed command line of one command. */
export interface CommandArgs {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
}

/** One `vbs` command: its help, its options, and what it does. */
export interface Command {
  name: string;
  /** One line for `vbs --help`. */
  summary: string;
  /** The synopsis and option list for `vbs NAME --help`. */
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** How many positionals it takes: [min, max]. */
  positionals: [number, number];
  run(context: CommandContext, args: CommandArgs): Promise<ExitCode>;
}

/** Writes a value as JSON: indented for a read command's answer, one line per value for a stream. */
export const writeJson = (out: Output, value: unknown, { stream = false } = {}) =>
  out.write(`${JSON.stringify(value, null, stream ? undefined : 2)}\n`);
