/** vLLM's error types by HTTP status. */
const TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

/** An error response in vLLM's shape: `{"error": {message, type, param, code}}`. */
export function engineError(status: number, message: string, param: string | null = null): Response {
  const body = { error: { message, type: TYPES[status] ?? 'BadRequestError', param, code: status } };
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}
