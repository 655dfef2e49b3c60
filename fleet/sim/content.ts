/** What the simulator will answer to one request, decided from the request body alone. */
export interface Plan {
  /** The output tokens, in order: content words, or pieces of a tool call's arguments. */
  pieces: string[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  /** Set when the answer is a tool call. */
  tool: { name: string; id: string } | null;
  promptTokens: number;
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
function promptText(body: Record<string, unknown>): string {
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
function chosenTool(body: Record<string, unknown>): { name: string; parameters: unknown } | null {
  const tools = Array.isArray(body.tools) ? (body.tools as { function?: { name?: string; parameters?: unknown } }[]) : [];
  const choice = body.tool_choice as { function?: { name?: string } } | string | undefined;
  if (!tools.length || choice === 'none') return null;
  const named = typeof choice === 'object' ? choice.function?.name : undefined;
  const tool = tools.find((t) => !named || t.function?.name === named) ?? tools[0];
  return tool?.function?.name ? { name: tool.function.name, parameters: tool.function.parameters } : null;
}

/**
 * Decides the whole reply from the body: the output length (around `meanTokens`, capped by
 * max_tokens), the words, and whether it is JSON or a tool call. `stream` and
 * `stream_options` are left out of the seed, so a streamed reply is the same as the plain one.
 */
export function planReply(body: Record<string, unknown>, meanTokens: number): Plan {
  const { stream: _stream, stream_options: _options, ...rest } = body;
  const seed = hashText(JSON.stringify(rest));
  const random = createRandom(seed);
  const cap = Number(body.max_completion_tokens ?? body.max_tokens ?? Number.POSITIVE_INFINITY);
  const wanted = Math.max(1, Math.round(meanTokens * (0.5 + random())));
  const promptTokens = countTokens(promptText(body));
  const max = Number.isFinite(cap) && cap > 0 ? cap : wanted;
  const tool = chosenTool(body);
  if (tool) {
    const args = JSON.stringify(sampleSchema(tool.parameters ?? { type: 'object' }, random));
    const id = `chatcmpl-tool-${seed.toString(16).padStart(8, '0')}`;
    return { pieces: pieces(args, max), finishReason: 'tool_calls', tool: { name: tool.name, id }, promptTokens };
  }
  const format = body.response_format as { type?: string; json_schema?: { schema?: unknown } } | undefined;
  if (format?.type === 'json_object' || format?.type === 'json_schema') {
    const value =
      format.type === 'json_schema'
        ? sampleSchema(format.json_schema?.schema ?? { type: 'object' }, random)
        : { answer: words(random, Math.max(1, Math.min(wanted, max) - 2)).join(' ') };
    return { pieces: pieces(JSON.stringify(value), max), finishReason: 'stop', tool: null, promptTokens };
  }
  const count = Math.min(wanted, max);
  const out = words(random, count).map((w, i) => (i === 0 ? w : ` ${w}`));
  return { pieces: out, finishReason: wanted > max ? 'length' : 'stop', tool: null, promptTokens };
}
