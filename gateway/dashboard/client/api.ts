import type { KeyStore } from './key-store.ts';

/** An error the gateway answered with: its HTTP status, GraphQL code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Options for {@link createApi}. */
export interface ApiOptions {
  keys: KeyStore;
  /** Called when the gateway refuses the key (or wants one); the page asks for it. */
  onUnauthorized(message: string): void;
}

/** The gateway's HTTP API as the page uses it. */
export type Api = ReturnType<typeof createApi>;

async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as {
      error?: { message?: string; code?: string };
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    if (body.errors?.[0]) return new ApiError(response.status, body.errors[0].extensions?.code ?? 'INTERNAL', body.errors[0].message);
    if (body.error?.message) return new ApiError(response.status, body.error.code ?? String(response.status), body.error.message);
  } catch {
    // Not JSON: the text itself is the best message there is.
  }
  return new ApiError(response.status, String(response.status), text || response.statusText);
}

/** Creates the API client: GraphQL, REST and downloads, all with the stored key. */
export function createApi({ keys, onUnauthorized }: ApiOptions) {
  async function send(path: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(path, { ...init, headers: { ...keys.headers(), ...(init.headers as Record<string, string>) } });
    if (response.ok) return response;
    const error = await errorOf(response);
    if (response.status === 401 || error.code === 'UNAUTHENTICATED') onUnauthorized(error.message);
    throw error;
  }

  return {
    send,
    /** Runs a GraphQL query or mutation. */
    async graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const response = await send('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
      const [first] = body.errors ?? [];
      if (first) {
        const code = first.extensions?.code ?? 'INTERNAL';
        if (code === 'UNAUTHENTICATED') onUnauthorized(first.message);
        throw new ApiError(response.status, code, first.message);
      }
      return body.data as T;
    },
    /** Calls a REST route with a JSON body (or a form) and returns its JSON answer. */
    async rest<T>(method: string, path: string, body?: FormData | object): Promise<T> {
      const init: RequestInit = { method };
      if (body instanceof FormData) init.body = body;
      else if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers = { 'content-type': 'application/json' };
      }
      return (await (await send(path, init)).json()) as T;
    },
    /** Whether downloads need the key: then a link cannot carry it and the page fetches the file itself. */
    needsKeyForDownloads: () => keys.get() !== null,
  };
}
