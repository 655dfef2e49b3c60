import { CliError, EXIT, type ExitCode } from './exit-codes.ts';
import { readSse } from './sse.ts';

/** Options for {@link createClient}. */
export interface ClientOptions {
  /** The gateway's base URL, without a trailing slash. */
  url: string;
  apiKey?: string | undefined;
  /** The fetch to use (tests and runtimes pass their own); the global one by default. */
  fetch?: typeof fetch;
  /** How long a subscription may send nothing before it counts as broken (the gateway sends a keep-alive every 12 s). */
  idleTimeoutMs?: number;
}

/** What the gateway's REST routes and GraphQL answer, with errors turned into {@link CliError}s. */
export type Client = ReturnType<typeof createClient>;

const EXIT_BY_STATUS: Record<number, ExitCode> = {
  400: EXIT.USAGE,
  401: EXIT.UNAVAILABLE,
  403: EXIT.UNAVAILABLE,
  404: EXIT.NOT_FOUND,
  409: EXIT.USAGE,
  413: EXIT.USAGE,
  415: EXIT.USAGE,
};
const EXIT_BY_CODE: Record<string, ExitCode> = {
  BAD_REQUEST: EXIT.USAGE,
  UNAUTHENTICATED: EXIT.UNAVAILABLE,
  FORBIDDEN: EXIT.UNAVAILABLE,
  NOT_FOUND: EXIT.NOT_FOUND,
  CONFLICT: EXIT.USAGE,
  PAYLOAD_TOO_LARGE: EXIT.USAGE,
};

interface GraphQLError {
  message: string;
  extensions?: { code?: string };
}

/** Turns GraphQL errors into the CLI error of the first one. */
export function graphqlError(errors: GraphQLError[]): CliError {
  const [first] = errors;
  const code = first?.extensions?.code ?? 'INTERNAL';
  const message = first?.message ?? 'The gateway answered with an error.';
  return new CliError(
    EXIT_BY_CODE[code] ?? EXIT.UNAVAILABLE,
    code === 'UNAUTHENTICATED' ? `${message} (pass --api-key or set VBS_API_KEY)` : message,
  );
}

/** Creates a client of one gateway. */
export function createClient({ url, apiKey, fetch: fetchImpl = fetch, idleTimeoutMs = 60_000 }: ClientOptions) {
  const authorization: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};

  async function send(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetchImpl(`${url}${path}`, { ...init, headers: { ...authorization, ...(init.headers as Record<string, string>) } });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      const reason = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(
        EXIT.UNAVAILABLE,
        `Cannot reach the gateway at ${url} (${reason}); start it with \`npm start\`, or pass --url / set VBS_URL.`,
        { cause: error },
      );
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    let message = text.trim() || response.statusText;
    try {
      const body = JSON.parse(text) as { error?: { message?: string }; errors?: GraphQLError[] };
      if (body.errors?.length) throw graphqlError(body.errors);
      message = body.error?.message ?? message;
    } catch (error) {
      if (error instanceof CliError) throw error;
    }
    if (response.status === 401) message += ' (pass --api-key or set VBS_API_KEY)';
    throw new CliError(EXIT_BY_STATUS[response.status] ?? EXIT.UNAVAILABLE, `${message} [HTTP ${response.status}]`);
  }

  // A body cut off mid-way (the gateway restarted or crashed) is the gateway's failure (exit 3), not a bug of vbs.
  function readBody(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          const reason = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
          return controller.error(
            new CliError(EXIT.UNAVAILABLE, `The gateway at ${url} broke off its answer (${reason}); try again.`, { cause: error }),
          );
        }
        if (chunk.done) controller.close();
        else controller.enqueue(chunk.value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }

  return {
    url,
    /** Sends a request; a non-2xx answer throws. */
    send,
    /** Sends a request with an optional JSON body and parses the JSON answer. */
    async json<T>(method: string, path: string, body?: unknown): Promise<T> {
      const init: RequestInit = { method };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers = { 'content-type': 'application/json' };
      }
      return (await (await send(path, init)).json()) as T;
    },
    /** Runs a GraphQL query or mutation and returns its data. */
    async graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const response = await send('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      const result = (await response.json()) as { data?: T; errors?: GraphQLError[] };
      if (result.errors?.length) throw graphqlError(result.errors);
      return result.data as T;
    },
    /** Runs a GraphQL subscription over SSE and yields each event's data until the server completes it. */
    async *subscribe<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): AsyncGenerator<T> {
      const response = await send('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query, variables }),
        ...(signal ? { signal } : {}),
      });
      if (!response.body) throw new CliError(EXIT.UNAVAILABLE, 'The gateway answered the subscription without a body.');
      for await (const event of readSse(readBody(response.body), signal, idleTimeoutMs)) {
        if (event.event === 'complete') return;
        if (event.event !== 'next') continue;
        const result = JSON.parse(event.data) as { data?: T; errors?: GraphQLError[] };
        if (result.errors?.length) throw graphqlError(result.errors);
        if (result.data) yield result.data;
      }
    },
    /** A response body whose read errors (the gateway cut the connection) are {@link CliError}s with exit 3. */
    readBody,
  };
}
