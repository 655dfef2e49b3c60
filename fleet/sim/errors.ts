import { pyCall, pyRepr, pyTuple } from './py-repr.ts';

/** vLLM's error types by HTTP status (entrypoints/utils.py create_error_response). */
const TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

const errorBody = (status: number, message: string, param: string | null, type = TYPES[status] ?? 'BadRequestError') => ({
  error: { message, type, param, code: status },
});

/** An error response in vLLM's shape: `{"error": {message, type, param, code}}`. */
export function engineError(status: number, message: string, param: string | null = null): Response {
  return new Response(JSON.stringify(errorBody(status, message, param)), { status, headers: { 'content-type': 'application/json' } });
}

/**
 * The message of a VLLMValidationError (vllm/exceptions.py): the text, then the parameter and
 * value in parentheses, as its `__str__` writes them.
 */
export function validationMessage(message: string, param: string | null, value?: unknown): string {
  const extras = [param !== null ? `parameter=${param}` : null, value !== undefined ? `value=${String(value)}` : null].filter(Boolean);
  return extras.length ? `${message} (${extras.join(', ')})` : message;
}

/**
 * An SSE error event as vLLM's streaming generators send it after the 200: Python's
 * `json.dumps` of the ErrorResponse, so with spaces after separators (engine/serving.py
 * create_streaming_error_response).
 */
export function streamErrorEvent(status: number, message: string, param: string | null): string {
  const e = errorBody(status, message, param).error;
  return `data: {"error": {"message": ${JSON.stringify(message)}, "type": ${JSON.stringify(e.type)}, "param": ${JSON.stringify(param)}, "code": ${status}}}\n\n`;
}

/** One pydantic error as FastAPI reports it (without `url`). */
export type PydanticError = Record<string, unknown>;

/** A pydantic error of a model validator that raised VLLMValidationError on the request body. */
export function bodyValueError(message: string, param: string, body: unknown): PydanticError {
  return {
    type: 'value_error',
    loc: pyTuple(['body']),
    msg: `Value error, ${validationMessage(message, param)}`,
    input: body,
    ctx: { error: pyCall('VLLMValidationError', message) },
  };
}

/**
 * A RequestValidationError's 400 (entrypoints/openai/server_utils.py validation_exception_handler):
 * type "Bad Request", the message Python's repr of the error list (FastAPI's str of the exception),
 * param the failing parameter when a VLLMValidationError raised it.
 */
export function requestValidationError(errors: (PydanticError | string)[], param: string | null = null): Response {
  const message = pyRepr(errors).replace(/ at 0x[0-9a-f]+>/g, '>');
  return new Response(JSON.stringify(errorBody(400, message, param, 'Bad Request')), {
    status: 400,
    headers: { 'content-type': 'application/json' },
  });
}
