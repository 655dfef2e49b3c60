/**
 * The exit codes of `vbs`, which scripts may rely on (docs/cli.md lists them).
 * Anything unexpected exits with 70 (EX_SOFTWARE) and its stack on stderr.
 */
export const EXIT = {
  /** The command did what was asked; a watched batch ended `completed`. */
  OK: 0,
  /** A watched batch ended `failed`, `expired` or `cancelled`. */
  BATCH_NOT_COMPLETED: 1,
  /** The command line or the input was wrong: unknown option, missing file, a request the gateway refused as bad. */
  USAGE: 2,
  /** The gateway could not be reached, refused the API key, or failed. */
  UNAVAILABLE: 3,
  /** The batch, file or model does not exist for this API key (or has no result files yet). */
  NOT_FOUND: 4,
  /** Interrupted (Ctrl-C) while watching (the batch goes on), downloading or uploading. */
  INTERRUPTED: 130,
} as const;

/** One of the exit codes. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one message on stderr, exiting with its code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** A usage error: what was wrong with the command line, and what to do. */
export const usageError = (message: string) => new CliError(EXIT.USAGE, message);
