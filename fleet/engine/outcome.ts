/** Why an engine call may succeed if tried again. */
export type RetryReason =
  | 'server_error'
  | 'rate_limited'
  | 'connection'
  | 'connect_timeout'
  | 'first_token_timeout'
  | 'stalled'
  | 'incomplete';

/** The outcome of one engine call: data, never an exception. */
export type EngineOutcome =
  | {
      kind: 'ok';
      statusCode: number;
      /** The non-streaming response body (reassembled when the call streamed). */
      body: Record<string, unknown>;
      requestId: string | null;
      promptTokens: number;
      completionTokens: number;
    }
  /** A 4xx: the request's own fault, with the engine's error body as it came. */
  | { kind: 'rejected'; statusCode: number; body: string }
  | { kind: 'retry'; reason: RetryReason; statusCode: number | null; message: string; retryAfterMs: number | null }
  | { kind: 'aborted' };
