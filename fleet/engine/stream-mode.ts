/** The generation endpoints the client streams, and the assembler each needs. */
export const STREAMED: Readonly<Record<string, 'chat' | 'completion'>> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completion',
};

/**
 * The Responses endpoint: always streamed. vLLM refuses no field with `stream: true` there
 * (responses/protocol.py:136 ResponsesRequest has no stream check; background, which answers at
 * once with an empty "queued" response, is refused by the gateway), and what the stream ends with
 * is the non-streamed body itself (reassemble-responses.ts), while its events keep the
 * stall and first-token watchdogs informed.
 */
export const RESPONSES = '/v1/responses';

/**
 * The field that makes vLLM refuse a stream, or stream something other than its non-streamed
 * body, so the call must not stream; null when streaming is safe. Checked against vLLM
 * (entrypoints/openai, 2026-05):
 * - `prompt_logprobs` (> 0 or -1) with `stream: true` is a 400 (chat and completion protocol.py,
 *   check_logprobs); with 0 the non-streamed body carries prompt logprobs no chunk does.
 * - `use_beam_search` with `stream: true` is a 400 on completions (completion/serving.py,
 *   _create_completion); beam search yields only its final output anyway (generate/beam_search/online.py).
 * - `echo` turns on prompt logprobs when logprobs are asked (to_sampling_params), which only the
 *   non-streamed body holds; streamed completions restart `text_offset` after the echoed prompt,
 *   and chat joins a multi-part last message only when not streaming.
 */
export function unstreamableField(body: Record<string, unknown>): string | null {
  if (body.prompt_logprobs != null) return 'prompt_logprobs';
  if (body.use_beam_search === true) return 'use_beam_search';
  if (body.echo === true) return 'echo';
  return null;
}

/** How many choices a stream of this request ends: `n` for each prompt (a completion may send several). */
export function expectedChoices(body: Record<string, unknown>): number {
  const n = typeof body.n === 'number' && body.n > 0 ? body.n : 1;
  const prompt = body.prompt;
  // A list of strings or of token lists is several prompts; a list of numbers is one prompt's tokens.
  const prompts = Array.isArray(prompt) && prompt.length > 0 && typeof prompt[0] !== 'number' ? prompt.length : 1;
  return n * prompts;
}
