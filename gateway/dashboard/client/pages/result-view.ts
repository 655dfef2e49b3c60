// One result of the viewer as a reader sees it: the conversation (the request's messages, or
// prompt, then the answer), its status, tokens, duration, metadata and annotation. Prompts and
// answers come from whoever wrote the input file and from the model: every piece goes into the
// page as text (dom.ts's h), never parsed as HTML.
import { badge, h, type Child } from '../dom.ts';
import { count, time } from '../format.ts';
import type { Result } from '../queries.ts';

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Any JSON as readable text: strings as they are, the rest indented. */
const asText = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value, null, 2));

/** A message's content: a string, or OpenAI's parts (text, images by address, anything else as JSON). */
function contentText(content: unknown): string {
  if (!Array.isArray(content)) return content === null || content === undefined ? '' : asText(content);
  return content
    .map((part) => {
      if (!isObject(part)) return asText(part);
      if (part.type === 'text' && typeof part.text === 'string') return part.text;
      if (part.type === 'image_url' && isObject(part.image_url)) return `[image: ${String(part.image_url.url).slice(0, 120)}]`;
      return asText(part);
    })
    .join('\n');
}

/** One turn of a conversation: who, and what. */
const turn = (role: string, text: string, kind = '') =>
  h('div', { class: `turn ${kind}`.trim(), 'data-role': role }, h('span', { class: 'role' }, role), h('div', { class: 'content' }, text));

/** The request's side: chat messages, a completion prompt, or an embedding input. */
function asked(request: unknown): Child[] {
  if (!isObject(request)) return [turn('request', asText(request ?? '(the request was removed with the batch files)'))];
  if (Array.isArray(request.messages))
    return request.messages.map((m) =>
      isObject(m) ? turn(String(m.role ?? 'message'), contentText(m.content) || asText(m)) : turn('message', asText(m)),
    );
  if ('prompt' in request) return [turn('prompt', asText(request.prompt))];
  if ('input' in request) return [turn('input', asText(request.input))];
  return [turn('request', asText(request))];
}

/** The answer's side as (role, text) pairs: each choice's message (or text), tool calls as JSON, embeddings summed up. */
function answers(response: unknown): [string, string][] {
  if (!isObject(response)) return response === null || response === undefined ? [] : [['response', asText(response)]];
  // An engine's refusal (a 4xx) is kept as the response; it is shown as the error.
  if (isObject(response.error) && !Array.isArray(response.choices)) return [];
  if (Array.isArray(response.choices))
    return response.choices.map((choice): [string, string] => {
      if (!isObject(choice)) return ['answer', asText(choice)];
      if (isObject(choice.message)) {
        const { content, tool_calls: calls } = choice.message;
        return [
          String(choice.message.role ?? 'assistant'),
          [contentText(content), Array.isArray(calls) && calls.length ? asText(calls) : ''].filter(Boolean).join('\n'),
        ];
      }
      return ['completion', asText(choice.text ?? choice)];
    });
  if (Array.isArray(response.data)) {
    const [first] = response.data;
    const dims = isObject(first) && Array.isArray(first.embedding) ? first.embedding.length : 0;
    return [['embeddings', `${response.data.length} embedding(s) of ${dims} dimensions`]];
  }
  return [['response', asText(response)]];
}

/** The text a correction starts from: the correction, else the first answer. */
export const answerText = (result: Result): string => result.annotation?.correction ?? answers(result.response)[0]?.[1] ?? '';

/** Why a line failed: the result's error, or the error body the engine refused the request with. */
function failure({ error, response }: Result): string | null {
  if (error) return `${error.code}: ${error.message}`;
  if (!isObject(response) || !isObject(response.error)) return null;
  const { code, type, message } = response.error;
  return `${String(type ?? code ?? 'error')}: ${asText(message ?? response.error)}`;
}

const stars = (rating: number | null) => (rating === null ? 'unrated' : `${'★'.repeat(rating)}${'☆'.repeat(5 - rating)}`);

/** The line's header: number, custom_id, status, gold star, rating, labels, tokens and duration. */
function summary(r: Result): HTMLElement {
  const a = r.annotation;
  const tokens = r.tokens?.total == null ? null : `${count(r.tokens.prompt ?? 0)} + ${count(r.tokens.completion ?? 0)} tokens`;
  return h(
    'div',
    { class: 'result-head' },
    h('span', { class: 'line' }, `#${r.line}`),
    h('code', { 'data-field': 'custom-id' }, r.customId),
    badge(r.status),
    h('span', { class: a?.gold ? 'gold on' : 'gold', 'data-field': 'gold', title: 'gold star (g)' }, a?.gold ? '★ gold' : '☆'),
    h('span', { class: a?.rating ? 'rating' : 'rating muted', 'data-field': 'rating', title: 'rating (1–5)' }, stars(a?.rating ?? null)),
    h(
      'span',
      { class: 'labels', 'data-field': 'labels' },
      (a?.labels ?? []).map((label) => h('span', { class: 'label' }, label)),
    ),
    h('span', { class: 'spacer' }),
    tokens && h('span', { class: 'muted', 'data-field': 'tokens' }, tokens),
    r.durationMs !== null && h('span', { class: 'muted', 'data-field': 'duration' }, `${(r.durationMs / 1000).toFixed(2)} s`),
  );
}

/** A result as an article of the viewer; its `.editor` slot holds the correction or labels editor while one is open. */
export function resultView(r: Result): HTMLElement {
  const a = r.annotation;
  const metadata = Object.entries(r.metadata ?? {});
  return h(
    'article',
    { class: 'result', 'data-line': r.line, 'data-status': r.status, 'data-gold': String(Boolean(a?.gold)), tabindex: -1 },
    summary(r),
    h(
      'div',
      { class: 'conversation' },
      asked(r.request),
      answers(r.response).map(([role, text]) => turn(role, text, 'answer')),
    ),
    failure(r) && h('p', { class: 'error', 'data-field': 'error' }, failure(r)),
    a?.correction != null && h('div', { 'data-field': 'correction' }, turn('correction', a.correction, 'correction')),
    a?.note && h('p', { class: 'note' }, `Note: ${a.note}`),
    metadata.length > 0 &&
      h(
        'dl',
        { class: 'metadata', 'data-field': 'metadata' },
        metadata.map(([key, value]) => [h('dt', null, key), h('dd', null, asText(value))]),
      ),
    a && h('p', { class: 'muted annotated' }, `Annotated by ${a.annotator} (${a.source.replace('_', ' ')}), ${time(a.updatedAt)}`),
    h('div', { class: 'editor' }),
  );
}
