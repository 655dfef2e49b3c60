import { countTokens, planReply } from './content.ts';
import type { SimContext } from './context.ts';
import { contextLengthProblem } from './checks.ts';
import { bodyValueError, requestValidationError, validationMessage } from './errors.ts';
import { garbage, hang } from './faults.ts';
import type { GenerationRequest } from './generate.ts';
import { pyTuple } from './py-repr.ts';
import { createEventWriter, finalStatus, outputItems, pyJson, responseObject, type ResponsesFrame } from './responses-format.ts';

const encoder = new TextEncoder();
const randomHex = () => crypto.randomUUID().replace(/-/g, '');
const num = (value: unknown) => (typeof value === 'number' ? value : null);

/** An ErrorResponse of create_error_response with its err_type (engine/serving.py). */
const invalid = (status: number, message: string, param: string | null, type = 'invalid_request_error') =>
  new Response(JSON.stringify({ error: { message, type, param, code: status } }), {
    status,
    headers: { 'content-type': 'application/json' },
  });

/** The text of a Responses input: a string, or the text of its items' content; instructions first. */
export function responsesPrompt(body: Record<string, unknown>): string {
  const parts: string[] = typeof body.instructions === 'string' ? [body.instructions] : [];
  const input = body.input;
  if (typeof input === 'string') parts.push(input);
  else if (Array.isArray(input)) {
    for (const item of input as { content?: unknown; text?: unknown; output?: unknown; arguments?: unknown }[]) {
      const content = item?.content ?? item?.output ?? item?.arguments;
      if (typeof content === 'string') parts.push(content);
      else if (Array.isArray(content))
        for (const c of content as { text?: unknown }[]) parts.push(typeof c?.text === 'string' ? c.text : '');
    }
  }
  return parts.join('\n');
}

/**
 * What ResponsesRequest's validators refuse (protocol.py:136-590): `input` missing, `background`
 * without `store`, a prompt template, an empty cache_salt, tool_choice "required" or a named
 * function without tools: FastAPI's 400 before anything is generated.
 */
export function checkResponsesModel(body: Record<string, unknown>): Response | null {
  const fail = (message: string, param: string) => requestValidationError([bodyValueError(message, param, body)], param);
  if (body.background && body.store === false) return fail('background can only be used when `store` is true', 'background');
  if (body.prompt != null) return fail('prompt template is not supported', 'prompt');
  if (body.cache_salt != null && (typeof body.cache_salt !== 'string' || !body.cache_salt))
    return fail("Parameter 'cache_salt' must be a non-empty string if provided.", 'cache_salt');
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const choice = body.tool_choice;
  if (!tools.length && choice === 'required')
    return fail("Tool choice 'required' must be specified with 'tools' parameter.", 'tool_choice');
  if (typeof choice === 'object' && choice !== null && (choice as { type?: unknown }).type === 'function') {
    const name = (choice as { name?: unknown }).name;
    if (!tools.some((t) => (t as { name?: unknown }).name === name))
      return fail("Tool choice 'function' not found in 'tools' parameter.", 'tool_choice');
  }
  if (typeof body.input !== 'string' && !Array.isArray(body.input)) {
    return requestValidationError([{ type: 'missing', loc: pyTuple(['body', 'input']), msg: 'Field required', input: body }]);
  }
  return null;
}

/**
 * What _create_responses refuses before it generates (serving.py:338-420): background mode (the
 * response store is off unless VLLM_ENABLE_RESPONSES_API_STORE=1, serving.py:302), a
 * previous_response_id (nothing stored: 404, serving.py:1357), max_output_tokens over
 * max_model_len and a prompt that does not fit (renderers/params.py TokenizeParams with
 * max_output_tokens_param="max_output_tokens", protocol.py:316), and a prompt of exactly
 * max_model_len tokens (_validate_generator_input, serving.py:269).
 */
function checkPreparation(body: Record<string, unknown>, promptTokens: number, maxModelLen: number): Response | null {
  if (body.background && body.store !== false) {
    return invalid(
      400,
      'This vLLM engine does not support `store=True` and therefore does not support the background mode. To enable these features, set the environment variable `VLLM_ENABLE_RESPONSES_API_STORE=1` when launching the vLLM server.',
      'background',
    );
  }
  if (body.previous_input_messages && body.previous_response_id)
    return invalid(400, 'Only one of `previous_input_messages` and `previous_response_id` can be set.', 'previous_response_id');
  if (typeof body.previous_response_id === 'string')
    return invalid(404, `Response with id '${body.previous_response_id}' not found.`, 'response_id');
  const maxOutput = num(body.max_output_tokens) ?? 0;
  const tooLong = contextLengthProblem({ maxModelLen, maxOutput, outputParam: 'max_output_tokens', promptTokens });
  if (tooLong) return invalid(400, tooLong.message, tooLong.param, 'BadRequestError');
  if (promptTokens >= maxModelLen)
    return invalid(
      400,
      `The engine prompt length ${promptTokens} exceeds the max_model_len ${maxModelLen}. Please reduce prompt.`,
      'input',
    );
  return null;
}

/**
 * Serves /v1/responses as vLLM does without a tool server or harmony model: checks in vLLM's
 * order, one sequence through the scheduler, then the whole response (stream false) or its
 * events (stream true). The content is the same deterministic text as chat for the same prompt.
 */
export function respond(ctx: SimContext, { request, body, headers }: GenerationRequest): Response | Promise<Response> {
  const refused = checkResponsesModel(body);
  if (refused) return refused;
  const { options } = ctx;
  const text = responsesPrompt(body);
  const promptTokens = countTokens(text);
  const prepared = checkPreparation(body, promptTokens, options.maxModelLen);
  if (prepared) return prepared;
  const maxOutput = num(body.max_output_tokens);
  const maxTokens = Math.min(maxOutput ?? Number.POSITIVE_INFINITY, options.maxModelLen - promptTokens);
  // The content seed: the request without what only shapes the answer (stream) or names it (request_id).
  const {
    stream: _stream,
    request_id: _id,
    input: _input,
    instructions: _instructions,
    max_output_tokens: _max,
    text: format,
    tools: _tools,
    tool_choice: _choice,
    ...rest
  } = body;
  const schema = (format as { format?: { type?: string; schema?: unknown } } | undefined)?.format;
  const planBody = {
    ...rest,
    prompt: text,
    ...(maxOutput === null ? {} : { max_tokens: maxOutput }),
    ...(schema?.type === 'json_schema' ? { response_format: { type: 'json_schema', json_schema: { schema: schema.schema } } } : {}),
  };
  const plan = planReply(planBody, {
    meanTokens: options.outputTokens,
    maxModelLen: options.maxModelLen,
    reasoning: options.reasoningParser !== null,
  }).choices[0]!;
  const streaming = body.stream === true;
  const fault = ctx.rollFault(streaming);
  if (fault === 'error') return invalid(500, 'Simulated engine error.', null, 'InternalServerError');
  if (fault === 'rate_limit')
    return invalid(429, 'Simulated rate limit (a proxy in front of the engine): too many requests.', null, 'RateLimitError');
  if (fault === 'hang') return hang(request);
  if (fault === 'garbage') return garbage(streaming, ctx.dice());
  const frame: ResponsesFrame = {
    id: typeof body.request_id === 'string' ? body.request_id : `resp_${randomHex()}`,
    createdAt: Math.floor(Date.now() / 1000),
    model: ctx.modelName,
    body,
    maxTokens,
    promptTokens,
    plan,
    parser: options.reasoningParser !== null,
  };
  const include = Array.isArray(body.include) && body.include.includes('message.output_text.logprobs');
  const top = include ? (num(body.top_logprobs) ?? 0) : 0;
  // The input processor checks logprobs inside generate() (sampling_params.py _validate_logprobs):
  // a 400 without streaming; in a stream, after response.created and response.in_progress, an
  // exception the SSE generator does not catch (only GenerationError is, serving.py:1547), so the stream breaks.
  const overLogprobs = options.maxLogprobs !== -1 && top > options.maxLogprobs;
  const problem = overLogprobs
    ? validationMessage(`Requested sample logprobs of ${top}, which is greater than max allowed: ${options.maxLogprobs}`, 'logprobs', top)
    : null;
  if (problem && !streaming) return invalid(400, problem, 'logprobs', 'BadRequestError');
  const breakAt = problem
    ? 0
    : fault === 'disconnect' || fault === 'stall' || fault === 'abort'
      ? Math.floor(ctx.dice() * plan.pieces.length)
      : -1;
  return streaming
    ? stream(ctx, request, frame, headers, problem ? 'disconnect' : fault, breakAt)
    : whole(ctx, request, frame, headers, fault, breakAt);
}

const ids = () => ({ reasoning: `rs_${randomHex()}`, message: `msg_${randomHex()}` });

/** The sequence of one reply in the scheduler; `abort` ends it where it is, as vLLM's engine abort does. */
function run(ctx: SimContext, frame: ResponsesFrame, onToken: (k: number) => void, onEnd: (emitted: number) => void) {
  let emitted = 0;
  let ended = false;
  const end = () => {
    if (ended) return false;
    ended = true;
    ctx.live.delete(abort);
    return true;
  };
  const handle = ctx.scheduler.submit({
    promptTokens: frame.promptTokens,
    tokens: frame.plan.pieces.length,
    onToken(k) {
      emitted = k + 1;
      onToken(k);
    },
    onDone() {
      if (!end()) return;
      ctx.finish(frame.plan.finishReason);
      onEnd(emitted);
    },
  });
  function abort() {
    if (!end()) return;
    handle.abort();
    ctx.finish('abort');
    onEnd(emitted);
  }
  const drop = () => {
    if (!end()) return false;
    handle.abort();
    return true;
  };
  ctx.live.add(abort);
  return { abort, drop };
}

/** The whole response once generated (JSONResponse of model_dump, api_router.py:73). An engine abort ends it "completed", cut short. */
function whole(
  ctx: SimContext,
  request: Request,
  frame: ResponsesFrame,
  headers: Record<string, string>,
  fault: string,
  breakAt: number,
): Promise<Response> {
  return new Promise<Response>((resolve) => {
    const r = run(
      ctx,
      frame,
      (k) => {
        if (fault === 'abort' && k === breakAt) r.abort();
      },
      (emitted) => {
        const body = responseObject(frame, finalStatus(frame, emitted), outputItems(frame, emitted, ids()), emitted);
        resolve(new Response(pyJson(body), { headers: { 'content-type': 'application/json', ...headers } }));
      },
    );
    request.signal.addEventListener(
      'abort',
      () => {
        if (r.drop()) ctx.stats.aborted++;
        resolve(invalid(500, 'aborted', null, 'InternalServerError'));
      },
      { once: true },
    );
  });
}

/** The events as the scheduler emits tokens (StreamingResponse of text/event-stream, api_router.py:75; no [DONE]). */
function stream(
  ctx: SimContext,
  request: Request,
  frame: ResponsesFrame,
  headers: Record<string, string>,
  fault: string,
  breakAt: number,
): Response {
  const writer = createEventWriter(frame);
  let stop = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let open = true;
      const send = (text: string) => {
        if (open && text) controller.enqueue(encoder.encode(text));
      };
      send(writer.opening());
      const r = run(
        ctx,
        frame,
        (k) => {
          if (k === breakAt && fault !== 'abort') {
            r.drop();
            if (fault === 'disconnect') {
              open = false;
              controller.error(new Error('simulated disconnect'));
            }
            return;
          }
          send(writer.token(k));
          if (k === breakAt) r.abort();
        },
        (emitted) => {
          if (!open) return;
          send(writer.closing(emitted, ids()));
          open = false;
          controller.close();
        },
      );
      stop = () => {
        if (!open) return;
        open = false;
        if (r.drop()) ctx.stats.aborted++;
      };
    },
    cancel: () => stop(),
  });
  request.signal.addEventListener('abort', () => stop(), { once: true });
  return new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8', ...headers } });
}
