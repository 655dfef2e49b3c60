import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createClient } from './client.ts';
import type { Command, Output } from './command.ts';
import { cancel } from './commands/cancel.ts';
import { download } from './commands/download.ts';
import { exportCommand } from './commands/export.ts';
import { models } from './commands/models.ts';
import { pause, resume } from './commands/pause.ts';
import { status } from './commands/status.ts';
import { submit } from './commands/submit.ts';
import { tail } from './commands/tail.ts';
import { watch } from './commands/watch.ts';
import { workers } from './commands/workers.ts';
import { loadCliConfig } from './config.ts';
import { CliError, EXIT, usageError } from './exit-codes.ts';

/** Every command, in the order `vbs --help` lists them. */
export const COMMANDS: readonly Command[] = [submit, status, watch, tail, cancel, pause, resume, download, exportCommand, models, workers];

const GLOBAL_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const GLOBAL_HELP = `Options of every command:
  --url URL        the gateway (default: VBS_URL, else http://127.0.0.1:8080)
  --api-key KEY    the API key, when the gateway has API_KEYS (default: VBS_API_KEY)
  --json           machine-readable output
  -h, --help       this help`;

const EXIT_HELP = `Exit codes: 0 ok; 1 a watched batch failed, expired or was cancelled; 2 usage error
(bad option, missing file, a request the gateway refused); 3 gateway unreachable, API key
refused, or a server error; 4 batch or file not found (or no result files yet); 130 interrupted.`;

/** The text of `vbs --help`. */
export function mainUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `vbs: submit and follow batches on a vllm-batch-server gateway

Usage: vbs COMMAND [ARGS] [OPTIONS]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

${GLOBAL_HELP}

${EXIT_HELP}
Run \`vbs COMMAND --help\` for a command's options. See docs/cli.md.
`;
}

/** The process the CLI runs in: its arguments' streams, environment and working directory. */
export interface CliIo {
  stdout: Output;
  stderr: Output;
  /** The environment VBS_URL and VBS_API_KEY are read from (the process's by default). */
  env?: Record<string, string | undefined>;
  cwd: string;
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** How long a progress stream may stay silent before it counts as broken (tests shorten the minute). */
  idleTimeoutMs?: number;
}

/** Runs one `vbs` command line and returns the exit code; never exits the process itself. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const command = COMMANDS.find((c) => c.name === rest[0]);
    (name === undefined ? io.stderr : io.stdout).write(command ? `${command.usage}\n\n${GLOBAL_HELP}\n` : mainUsage());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  try {
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw usageError(`Unknown command "${name}"; one of: ${COMMANDS.map((c) => c.name).join(', ')} (vbs --help).`);
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: [...rest], options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
    } catch (error) {
      throw usageError(`${(error as Error).message.split(/\n|\. To specify/)[0]} (vbs ${name} --help)`);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.stdout.write(`${command.usage}\n\n${GLOBAL_HELP}\n`);
      return EXIT.OK;
    }
    const [min, max] = command.positionals;
    if (positionals.length < min || positionals.length > max) {
      throw usageError(`${positionals.length < min ? 'Missing' : 'Too many'} arguments. Usage: ${command.usage.split('\n')[0]}`);
    }
    const config = loadCliConfig({ url: values.url as string | undefined, apiKey: values['api-key'] as string | undefined }, io.env);
    const client = createClient({
      url: config.url,
      apiKey: config.apiKey,
      ...(io.fetch ? { fetch: io.fetch } : {}),
      ...(io.idleTimeoutMs ? { idleTimeoutMs: io.idleTimeoutMs } : {}),
    });
    return await command.run(
      {
        client,
        stdout: io.stdout,
        stderr: io.stderr,
        json: values.json === true,
        signal: io.signal ?? new AbortController().signal,
        cwd: io.cwd,
      },
      { positionals, values: values as Record<string, string | boolean | string[] | undefined> },
    );
  } catch (error) {
    // Ctrl-C aborts whatever was in flight (a download, an upload): that is no failure of the gateway nor a bug.
    if (io.signal?.aborted) {
      io.stderr.write('vbs: interrupted.\n');
      return EXIT.INTERRUPTED;
    }
    if (error instanceof CliError) {
      io.stderr.write(`vbs: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr.write(`vbs: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return 70;
  }
}
