/**
 * The closed set of error codes the application raises on purpose. Anything else is
 * unexpected: it is logged and shown to clients as INTERNAL, without details.
 */
export const ERROR_CODES = {
  BAD_REQUEST: { http: 400, openaiType: 'invalid_request_error' },
  UNAUTHENTICATED: { http: 401, openaiType: 'invalid_request_error' },
  FORBIDDEN: { http: 403, openaiType: 'invalid_request_error' },
  NOT_FOUND: { http: 404, openaiType: 'invalid_request_error' },
  CONFLICT: { http: 409, openaiType: 'invalid_request_error' },
  PAYLOAD_TOO_LARGE: { http: 413, openaiType: 'invalid_request_error' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, openaiType: 'invalid_request_error' },
  RATE_LIMITED: { http: 429, openaiType: 'rate_limit_error' },
  UNAVAILABLE: { http: 503, openaiType: 'server_error' },
  INTERNAL: { http: 500, openaiType: 'server_error' },
} as const;

/** One of the application's error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options of an {@link AppError}. */
export interface AppErrorOptions {
  /** The request parameter at fault, as OpenAI's `param`. */
  param?: string | null;
  /** A finer machine-readable reason, as OpenAI's `code` (e.g. `invalid_api_key`). */
  reason?: string | null;
  cause?: unknown;
}

/** The one application error: a code from {@link ERROR_CODES} and a message that says what to do. */
export class AppError extends Error {
  readonly param: string | null;
  readonly reason: string | null;

  constructor(
    readonly code: ErrorCode,
    message: string,
    { param = null, reason = null, cause }: AppErrorOptions = {},
  ) {
    super(message, { cause });
    this.name = 'AppError';
    this.param = param;
    this.reason = reason;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  /** The body OpenAI's API returns for this error. */
  toOpenAI(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return {
      error: {
        message: this.message,
        type: ERROR_CODES[this.code].openaiType,
        param: this.param,
        code: this.reason,
      },
    };
  }
}

/** Turns anything thrown into an AppError; unexpected errors become INTERNAL with a masked message. */
export function toAppError(error: unknown): { error: AppError; unexpected: boolean } {
  if (error instanceof AppError) return { error, unexpected: false };
  return {
    error: new AppError('INTERNAL', 'An unexpected error occurred; it has been logged.', { cause: error }),
    unexpected: true,
  };
}
