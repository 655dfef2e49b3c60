import type { BatchErrorItem, NewRequest } from '../../schema/index.ts';
import { rawMember } from './raw-member.ts';

/** What a line is checked against: the batch's endpoint, and the custom_ids seen on earlier lines. */
export interface LineContext {
  endpoint: string;
  /** custom_id → the line it first appeared on. */
  seen: Map<string, number>;
}

/** A line's verdict: the request to queue, or the error to report. */
export type LineVerdict = { request: NewRequest } | { error: BatchErrorItem };

/**
 * The longest `body.model` accepted, in characters. The queue indexes requests by model, and
 * Postgres cannot index a value of more than about 2,700 bytes: a longer name would fail the
 * whole ingest. 512 characters are at most 1,536 bytes of UTF-8.
 */
export const MAX_MODEL_LENGTH = 512;

/** How many characters of a value of the line an error message quotes. */
const QUOTED_CHARS = 100;

/**
 * A value of the line as an error message shows it: short, whatever the line holds (a value
 * may be megabytes long, or nested a million deep, past what JSON.stringify can recurse).
 */
function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > QUOTED_CHARS ? `${value.slice(0, QUOTED_CHARS)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value ?? null);
}

const bad = (line: number, code: string, message: string, param: string | null = null): LineVerdict => ({
  error: { line, code, message, param },
});

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks one line of a batch input file as OpenAI does: a JSON object with a unique
 * `custom_id`, `method` POST, `url` equal to the batch's endpoint, and a `body` object
 * naming a `model` and not asking to stream. The body is kept as the line wrote it.
 */
export function validateLine(text: string, line: number, { endpoint, seen }: LineContext): LineVerdict {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // Bun's parser quotes the token it stopped at, which may be half of a surrogate pair: no database text can hold that.
    const reason = (error as Error).message.slice(0, 2 * QUOTED_CHARS).toWellFormed();
    return bad(line, 'invalid_json', `Line ${line} is not valid JSON (${reason}).`);
  }
  if (!isObject(parsed)) return bad(line, 'invalid_line', `Line ${line} is not a JSON object; each line must be one request object.`);
  const customId = parsed.custom_id;
  if (customId === undefined || customId === null || customId === '') {
    return bad(line, 'missing_custom_id', `Line ${line} has no custom_id; give every request a unique custom_id.`, 'custom_id');
  }
  if (typeof customId !== 'string' || customId.includes('\u0000')) {
    return bad(line, 'invalid_custom_id', `Line ${line}: custom_id must be a string without NUL characters.`, 'custom_id');
  }
  // An unpaired UTF-16 surrogate (a JSON string may escape one, as `\ud800`): no Postgres text can hold it.
  if (!customId.isWellFormed()) {
    return bad(
      line,
      'invalid_custom_id',
      `Line ${line}: custom_id holds an unpaired surrogate escape (such as \\ud800), which cannot be stored; use valid Unicode.`,
      'custom_id',
    );
  }
  const first = seen.get(customId);
  if (first !== undefined) {
    return bad(
      line,
      'duplicate_custom_id',
      `Line ${line}: custom_id ${quote(customId)} is already used on line ${first}; custom_ids must be unique.`,
      'custom_id',
    );
  }
  seen.set(customId, line);
  if (parsed.method !== 'POST') {
    return bad(line, 'invalid_method', `Line ${line}: method must be "POST", not ${quote(parsed.method)}.`, 'method');
  }
  if (parsed.url !== endpoint) {
    return bad(
      line,
      'invalid_url',
      `Line ${line}: url ${quote(parsed.url)} differs from the batch endpoint ${endpoint}; every line must use the batch's endpoint.`,
      'url',
    );
  }
  const body = parsed.body;
  if (!isObject(body)) return bad(line, 'invalid_body', `Line ${line}: body must be a JSON object with the request to send.`, 'body');
  if (typeof body.model !== 'string' || body.model === '' || body.model.includes('\u0000')) {
    return bad(line, 'missing_model', `Line ${line}: body.model is missing; name the model each request is for.`, 'body.model');
  }
  if (!body.model.isWellFormed()) {
    return bad(
      line,
      'invalid_model',
      `Line ${line}: body.model holds an unpaired surrogate escape (such as \\ud800), which cannot be stored; use valid Unicode.`,
      'body.model',
    );
  }
  if (body.model.length > MAX_MODEL_LENGTH) {
    return bad(
      line,
      'invalid_model',
      `Line ${line}: body.model is longer than ${MAX_MODEL_LENGTH} characters; name a model the fleet serves.`,
      'body.model',
    );
  }
  if (body.stream === true) {
    return bad(line, 'stream_not_allowed', `Line ${line}: body.stream is true; batch requests cannot stream, remove it.`, 'body.stream');
  }
  // vLLM answers these with application/octet-stream (entrypoints/pooling/utils.py,
  // build_pooling_bytes_streaming_response): raw bytes no JSON result line can hold.
  if (body.encoding_format === 'bytes' || body.encoding_format === 'bytes_only') {
    return bad(
      line,
      'invalid_encoding_format',
      `Line ${line}: body.encoding_format ${quote(body.encoding_format)} makes the engine answer raw bytes (application/octet-stream), which a batch result cannot hold; use "float" or "base64".`,
      'body.encoding_format',
    );
  }
  if (endpoint === '/v1/responses') {
    const refused = checkResponsesBody(body, line);
    if (refused) return refused;
  }
  const raw = rawMember(text, 'body');
  if (raw === undefined) throw new Error(`validateLine: no raw body found on line ${line}`);
  return { request: { line, customId, model: body.model, body: raw } };
}

/**
 * What a /v1/responses line must hold beyond the common fields: `input` (vLLM's ResponsesRequest
 * requires it, vllm/entrypoints/openai/responses/protocol.py:153), and not `background`: the
 * engine would answer at once with an empty "queued" response (or refuse it, responses/serving.py:302),
 * and a batch already runs in the background. Nor a `prompt` template, which vLLM refuses (protocol.py:442).
 */
function checkResponsesBody(body: Record<string, unknown>, line: number): LineVerdict | null {
  if (typeof body.input !== 'string' && !Array.isArray(body.input)) {
    const given = body.input === undefined ? 'is missing' : `is ${quote(body.input)}`;
    return bad(
      line,
      'missing_input',
      `Line ${line}: body.input ${given}; a /v1/responses request needs its input: a string, or a list of input items.`,
      'body.input',
    );
  }
  if (body.background === true) {
    return bad(
      line,
      'background_not_allowed',
      `Line ${line}: body.background is true; a batch already runs in the background and needs each response whole, remove it.`,
      'body.background',
    );
  }
  if (body.prompt !== undefined && body.prompt !== null) {
    return bad(
      line,
      'prompt_not_supported',
      `Line ${line}: body.prompt (a stored prompt template) is not supported by vLLM; give the text in body.input instead.`,
      'body.prompt',
    );
  }
  return null;
}
