/** One choice of a reply: its output tokens and how the engine ends it. */
export interface ChoicePlan {
  /** The text of each output token, in order: reasoning, content words, or pieces of a tool call's arguments. */
  pieces: string[];
  /** The first `reasoning` pieces are reasoning (a `--reasoning-parser` model), the rest content. */
  reasoning: number;
  /** The engine's reason: "stop" (end of text or a stop string) or "length" (max_tokens). */
  finishReason: 'stop' | 'length';
  /** The stop string that ended the output, as vLLM's `stop_reason`. */
  stopReason: string | null;
  tokenIds: number[];
  /** The sampled token's logprob at each position. */
  logprobs: number[];
}

/** What the simulator will answer to one request, decided from the request body alone. */
export interface Plan {
  /** One per choice (`n`), indexed as the choices are. */
  choices: ChoicePlan[];
  /** Set when the answer is a tool call: `named` for a tool_choice naming it, `required`, or `auto`. */
  tool: { name: string; id: string; mode: 'auto' | 'required' | 'named' } | null;
  promptTokens: number;
  promptText: string;
}

const WORDS = (
  'the candidate has strong experience with distributed systems and shows clear ownership of ' +
  'production services across teams while mentoring engineers on testing reliability and design ' +
  'reviews a good fit for platform work with solid communication skills and steady delivery ' +
  'record in fast moving environments'
).split(' ');

/** FNV-1a over a string: the seed of everything the simulator makes up for a request. */
export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A small seeded PRNG (mulberry32), so replies are deterministic. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** About four characters per token, as for common BPE vocabularies. */
export function countTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

const words = (random: () => number, count: number) =>
  Array.from({ length: count }, () => WORDS[Math.floor(random() * WORDS.length)] ?? 'ok');

/** A value that satisfies a (simple) JSON schema: objects, arrays, scalars, enums, anyOf. */
export function sampleSchema(schema: unknown, random: () => number, depth = 0): unknown {
  const s = (schema && typeof schema === 'object' ? schema : {}) as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[Math.floor(random() * s.enum.length)];
  if ('const' in s) return s.const;
  const alternatives = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(alternatives) && alternatives.length) return sampleSchema(alternatives[0], random, depth + 1);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (depth > 6) return null;
  switch (type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, sampleSchema(v, random, depth + 1)]));
    }
    case 'array':
      return Array.from({ length: 1 + Math.floor(random() * 2) }, () => sampleSchema(s.items, random, depth + 1));
    case 'integer':
      return 1 + Math.floor(random() * 10);
    case 'number':
      return Math.round(random() * 1000) / 100;
    case 'boolean':
      return random() < 0.5;
    case 'null':
      return null;
    default:
      return words(random, 2 + Math.floor(random() * 4)).join(' ');
  }
}

/** Splits a JSON text into at most `max` pieces of about four characters, so it streams token by token. */
function pieces(text: string, max: number): string[] {
  const count = Math.max(1, Math.min(max, Math.ceil(text.length / 4)));
  const size = Math.ceil(text.length / count);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** The prompt of a chat or completion body as one string, for counting its tokens. */
export function promptText(body: Record<string, unknown>): string {
  if (Array.isArray(body.messages)) {
    return body.messages
      .map((m) => {
        const content = (m as { content?: unknown }).content;
        return typeof content === 'string' ? content : JSON.stringify(content ?? '');
      })
      .join('\n');
  }
  const prompt = body.prompt;
  return typeof prompt === 'string' ? prompt : JSON.stringify(prompt ?? '');
}

/** The tool the reply calls, if the request offers tools and does not forbid calling them. */
function chosenTool(body: Record<string, unknown>): { name: string; parameters: unknown; mode: 'auto' | 'required' | 'named' } | null {
  const tools = Array.isArray(body.tools) ? (body.tools as { function?: { name?: string; parameters?: unknown } }[]) : [];
  const choice = body.tool_choice as { function?: { name?: string } } | string | undefined;
  if (!tools.length || choice === 'none') return null;
  const named = typeof choice === 'object' ? choice.function?.name : undefined;
  const tool = tools.find((t) => !named || t.function?.name === named) ?? tools[0];
  const mode = named ? 'named' : choice === 'required' ? 'required' : 'auto';
  return tool?.function?.name ? { name: tool.function.name, parameters: tool.function.parameters, mode } : null;
}

/** A token id for a piece of text: made up, stable. */
export const tokenId = (text: string) => 100 + (hashText(text) % 32000);

/** Options for {@link planReply}. */
export interface PlanOptions {
  /** Mean output length when the body sets no max_tokens. */
  meanTokens: number;
  /** Outputs stop at max_model_len - prompt tokens, as vLLM's get_max_tokens. */
  maxModelLen?: number;
  /** A reasoning model: plain-text chat replies open with reasoning. */
  reasoning?: boolean;
}

/** The body's stop strings (`stop`: a string or a list). */
const stopStrings = (body: Record<string, unknown>): string[] =>
  (typeof body.stop === 'string' ? [body.stop] : Array.isArray(body.stop) ? body.stop : []).filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );

/**
 * Ends the pieces at the first stop string to appear as they stream, as vLLM's detokenizer does:
 * the token that completes it is the last, and the text is cut where the stop string starts
 * (kept with include_stop_str_in_output). Tokens after the cut keep their count, not their text.
 */
function applyStop(pieces: string[], stops: string[], keep: boolean): { pieces: string[]; stop: string | null } {
  if (!stops.length) return { pieces, stop: null };
  const text = pieces.join('');
  let best: { at: number; end: number; stop: string } | null = null;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && (!best || at + stop.length < best.end)) best = { at, end: at + stop.length, stop };
  }
  if (!best) return { pieces, stop: null };
  const cut = keep ? best.end : best.at;
  const out: string[] = [];
  let offset = 0;
  for (const piece of pieces) {
    out.push(piece.slice(0, Math.max(0, cut - offset)));
    offset += piece.length;
    if (offset >= best.end) break;
  }
  return { pieces: out, stop: best.stop };
}

/**
 * Decides the whole reply from the body: per choice, the output length (around `meanTokens`,
 * capped by max_tokens and max_model_len), the words, stop strings, and whether it is JSON or a
 * tool call. `stream`, `stream_options` and the stop strings are left out of the seed, so a
 * streamed reply is the same as the plain one, and a stop string cuts the same text.
 */
export function planReply(
  body: Record<string, unknown>,
  { meanTokens, maxModelLen = Number.POSITIVE_INFINITY, reasoning = false }: PlanOptions,
): Plan {
  // Stop strings end the output but do not change the tokens before them.
  const { stream: _stream, stream_options: _options, stop: _stop, include_stop_str_in_output: _keep, ...rest } = body;
  const seed = hashText(JSON.stringify(rest));
  const text = promptText(body);
  const promptTokens = countTokens(text);
  const asked = Number(body.max_completion_tokens ?? body.max_tokens ?? Number.NaN);
  const cap = Math.max(1, Math.min(Number.isFinite(asked) && asked > 0 ? asked : Number.POSITIVE_INFINITY, maxModelLen - promptTokens));
  const tool = chosenTool(body);
  const n = Number.isInteger(body.n) && (body.n as number) > 1 ? (body.n as number) : 1;
  const choices = Array.from({ length: n }, (_, index) => {
    const random = createRandom(seed + index);
    const wanted = Math.max(1, Math.round(meanTokens * (0.5 + random())));
    const max = Number.isFinite(cap) ? cap : wanted;
    let out: string[];
    let thinking = 0;
    let length = false;
    const format = body.response_format as { type?: string; json_schema?: { schema?: unknown } } | undefined;
    if (tool) {
      out = pieces(JSON.stringify(sampleSchema(tool.parameters ?? { type: 'object' }, random)), max);
    } else if (format?.type === 'json_object' || format?.type === 'json_schema') {
      const value =
        format.type === 'json_schema'
          ? sampleSchema(format.json_schema?.schema ?? { type: 'object' }, random)
          : { answer: words(random, Math.max(1, Math.min(wanted, max) - 2)).join(' ') };
      out = pieces(JSON.stringify(value), max);
    } else {
      const count = Math.min(wanted, max);
      length = wanted > max;
      out = words(random, count).map((w, i) => (i === 0 ? w : ` ${w}`));
      if (reasoning && count > 1) {
        thinking = Math.max(1, Math.floor(count / 3));
        out[thinking] = (out[thinking] as string).trimStart();
      }
    }
    const stopped = tool ? { pieces: out, stop: null } : applyStop(out, stopStrings(body), body.include_stop_str_in_output === true);
    return {
      pieces: stopped.pieces,
      reasoning: Math.min(thinking, stopped.pieces.length),
      finishReason: length && !stopped.stop ? 'length' : 'stop',
      stopReason: stopped.stop,
      tokenIds: out.slice(0, stopped.pieces.length).map(tokenId),
      logprobs: stopped.pieces.map(() => -Math.round(random() * 2_000_000) / 1_000_000),
    } satisfies ChoicePlan;
  });
  const toolPlan = tool ? { name: tool.name, mode: tool.mode, id: `chatcmpl-tool-${seed.toString(16).padStart(8, '0')}` } : null;
  return { choices, tool: toolPlan, promptTokens, promptText: text };
}
