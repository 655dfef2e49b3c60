import { bodyValueError, engineError, requestValidationError, validationMessage, type PydanticError } from './errors.ts';
import { pyCall, pyTuple } from './py-repr.ts';
import type { GenerationKind } from './replies.ts';

/** A problem vLLM finds inside the engine (input processor): after the 200 when streaming. */
export interface EngineProblem {
  message: string;
  param: string | null;
}

const num = (value: unknown) => (typeof value === 'number' ? value : null);

/**
 * What the request models' validators reject (chat_completion/protocol.py, completion/protocol.py):
 * a 400 "Bad Request" from FastAPI's RequestValidationError, before anything is generated.
 */
export function checkRequestModel(kind: GenerationKind, body: Record<string, unknown>): Response | null {
  const fail = (message: string, param: string) => requestValidationError([bodyValueError(message, param, body)], param);
  if (body.stream_options && !body.stream) return fail('Stream options can only be defined when `stream=True`.', 'stream_options');
  const promptLogprobs = num(body.prompt_logprobs);
  if (promptLogprobs !== null) {
    if (body.stream && (promptLogprobs > 0 || promptLogprobs === -1))
      return fail('`prompt_logprobs` are not available when `stream=True`.', 'prompt_logprobs');
    if (promptLogprobs < 0 && promptLogprobs !== -1) return fail('`prompt_logprobs` must be a positive value or -1.', 'prompt_logprobs');
  }
  if (kind === 'chat') {
    const top = num(body.top_logprobs);
    if (top !== null && top < 0 && top !== -1) return fail('`top_logprobs` must be a positive value or -1.', 'top_logprobs');
    if (top !== null && (top === -1 || top > 0) && !body.logprobs)
      return fail('when using `top_logprobs`, `logprobs` must be set to true.', 'top_logprobs');
    if (!Array.isArray(body.messages)) {
      return requestValidationError([
        { type: 'missing', loc: pyTuple(['body', 'messages']), msg: 'Field required', input: body } satisfies PydanticError,
      ]);
    }
    return null;
  }
  const logprobs = num(body.logprobs);
  if (logprobs !== null && logprobs < 0) return fail('`logprobs` must be a positive value.', 'logprobs');
  if (body.prompt === undefined || body.prompt === null || body.prompt === '') {
    const message = 'Either prompt or prompt_embeds must be provided and non-empty.';
    return requestValidationError([
      {
        type: 'value_error',
        loc: pyTuple(['body']),
        msg: `Value error, ${message}`,
        input: body,
        ctx: { error: pyCall('ValueError', message) },
      },
    ]);
  }
  return null;
}

/** The output limit a request asks for: max_completion_tokens, else max_tokens (chat); max_tokens (completions). */
export const askedMaxTokens = (kind: GenerationKind, body: Record<string, unknown>): number | null =>
  num(kind === 'chat' ? (body.max_completion_tokens ?? body.max_tokens) : body.max_tokens);

/**
 * vLLM's two 400s for a request over max_model_len (vllm/renderers/params.py, TokenizeParams:
 * `__post_init__` for the output tokens, `_token_len_check` for the prompt), with the parameter
 * each names; null when it fits. The tokenizer stops at max_input_tokens + 1, so vLLM says "at least".
 */
export function contextLengthProblem({
  maxModelLen,
  maxOutput,
  outputParam,
  promptTokens,
}: {
  maxModelLen: number;
  maxOutput: number;
  outputParam: string;
  promptTokens: number;
}): { message: string; param: string } | null {
  if (maxOutput > maxModelLen) {
    const message = `${outputParam}=${maxOutput} cannot be greater than max_model_len=max_total_tokens=${maxModelLen}. Please request fewer output tokens.`;
    return { message: validationMessage(message, outputParam, maxOutput), param: outputParam };
  }
  const maxInput = maxModelLen - maxOutput;
  if (promptTokens <= maxInput) return null;
  const count = Math.min(promptTokens, maxInput + 1);
  const qualifier = count === maxInput + 1 ? 'at least ' : '';
  const message =
    `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${maxOutput} output tokens and your prompt ` +
    `contains ${qualifier}${count} input tokens, for a total of ${qualifier}${count + maxOutput} tokens. ` +
    'Please reduce the length of the input prompt or the number of requested output tokens.';
  return { message: validationMessage(message, 'input_tokens', count), param: 'input_tokens' };
}

/**
 * What vLLM refuses with a 400 while preparing the request, before the stream starts: beam
 * search with stream on completions (completion/serving.py), the output or prompt longer than
 * max_model_len (renderers/params.py TokenizeParams), and bad sampling parameters
 * (sampling_params.py _verify_args).
 */
export function checkPreparation(
  kind: GenerationKind,
  body: Record<string, unknown>,
  promptTokens: number,
  maxModelLen: number,
): Response | null {
  if (kind === 'completion' && body.stream && body.use_beam_search)
    return engineError(400, 'Streaming is not currently supported with beam search');
  const asked = askedMaxTokens(kind, body);
  const param =
    kind === 'chat' && body.max_completion_tokens !== undefined && body.max_completion_tokens !== null
      ? 'max_completion_tokens'
      : 'max_tokens';
  const maxOutput = asked ?? 0;
  const tooLong = contextLengthProblem({ maxModelLen, maxOutput, outputParam: param, promptTokens });
  if (tooLong) return engineError(400, tooLong.message, tooLong.param);
  const n = body.n ?? 1;
  if (typeof n === 'number' && n < 1) return engineError(400, `n must be at least 1, got ${n}.`);
  if (asked !== null && asked < 1)
    return engineError(400, validationMessage(`max_tokens must be at least 1, got ${asked}.`, 'max_tokens', asked), 'max_tokens');
  return null;
}

/**
 * What the engine's input processor refuses (v1/engine/input_processor.py): logprobs over
 * --max-logprobs (SamplingParams._validate_logprobs) and a prompt that leaves no room for one
 * output token. Raised inside generate(), so a stream has already answered 200.
 */
export function checkInEngine(
  kind: GenerationKind,
  body: Record<string, unknown>,
  promptTokens: number,
  options: { maxModelLen: number; maxLogprobs: number },
): EngineProblem | null {
  const max = options.maxLogprobs;
  const logprobs = kind === 'chat' ? (body.logprobs ? num(body.top_logprobs) : null) : num(body.logprobs);
  if (max !== -1 && logprobs && logprobs !== -1 && logprobs > max) {
    return {
      message: validationMessage(
        `Requested sample logprobs of ${logprobs}, which is greater than max allowed: ${max}`,
        'logprobs',
        logprobs,
      ),
      param: 'logprobs',
    };
  }
  const prompt = num(body.prompt_logprobs);
  if (max !== -1 && prompt && prompt !== -1 && prompt > max) {
    return {
      message: validationMessage(
        `Requested prompt logprobs of ${prompt}, which is greater than max allowed: ${max}`,
        'prompt_logprobs',
        prompt,
      ),
      param: 'prompt_logprobs',
    };
  }
  if (promptTokens >= options.maxModelLen) {
    return {
      message:
        `The decoder prompt (length ${promptTokens}) plus the number of requested output tokens (at least 1) is longer than the maximum model length of ${options.maxModelLen}. ` +
        'Make sure that `max_model_len` is no smaller than the number of text tokens (prompt + requested output tokens).',
      param: null,
    };
  }
  return null;
}
