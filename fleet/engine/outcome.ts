/** Why an engine call may succeed if tried again. */
export type RetryReason =
  | 'server_error'
  | 'rate_limited'
  | 'connection'
  | 'connect_timeout'
  | 'first_token_timeout'
  | 'stalled'
  | 'incomplete'
  /** The engine ended the request with `finish_reason: "abort"` (shutdown, /pause, /sleep): its output is cut short. */
  | 'engine_abort';

/** The outcome of one engine call: data, never an exception. */
export type EngineOutcome =
  | {
      kind: 'ok';
      statusCode: number;
      /** The non-streaming response body (reassembled when the call streamed). */
      body: Record<string, unknown>;
      /**
       * The body's text as the engine sent it, when the call did not stream: stored as it is, since
       * a parse reorders keys that look like integers (the token ids of vLLM's prompt_logprobs).
       */
      text?: string;
      requestId: string | null;
      promptTokens: number;
      completionTokens: number;
    }
  /** A 4xx (also one the engine sent mid-stream): the request's own fault, with the engine's error body as it came. */
  | { kind: 'rejected'; statusCode: number; body: string }
  | {
      kind: 'retry';
      reason: RetryReason;
      statusCode: number | null;
      message: string;
      retryAfterMs: number | null;
      /** The engine's error body as it came, when it answered one (a 5xx, a mid-stream error event). */
      body?: string;
      /** The engine had started answering (streamed events) when it failed: the failure cost a generation. */
      started?: boolean;
    }
  /** The engine refused the fleet's API key (401/403 on /v1/*): no request can run until the key is fixed. */
  | { kind: 'unauthorized'; statusCode: 401 | 403; message: string }
  /** An answer no retry can change and no result can hold (a 200 that is not JSON): the request fails with `code`. */
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'aborted' };
