/** A problem with one handler option, as a dotted path (`handlers.webhook.url`) and what was expected. */
export interface OptionIssue {
  path: string;
  message: string;
}

/** Per-batch handler options that do not validate; the message names each handler and option. */
export class HandlerOptionsError extends Error {
  constructor(readonly issues: OptionIssue[]) {
    super(issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
    this.name = 'HandlerOptionsError';
  }
}

/** A manifest that cannot be used: the message names the manifest file and the problem. */
export class ManifestError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`Handler manifest ${file}: ${problem}`, options);
    this.name = 'ManifestError';
  }
}

/** Options of a {@link HandlerError}. */
export interface HandlerErrorOptions {
  /** False when trying again cannot help (a 4xx from the receiver, a bad table name): the run goes `dead` at once. */
  retryable?: boolean;
  /** The earliest retry the destination asked for (a 429's Retry-After), in milliseconds. */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * What a handler throws to say how its failure should be treated. Any other error is
 * retried with backoff until the run's attempts are used up.
 */
export class HandlerError extends Error {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, { retryable = true, retryAfterMs, cause }: HandlerErrorOptions = {}) {
    super(message, { cause });
    this.name = 'HandlerError';
    this.retryable = retryable;
    this.retryAfterMs = retryAfterMs;
  }
}
