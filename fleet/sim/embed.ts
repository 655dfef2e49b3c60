import { checkPreparation } from './checks.ts';
import { countTokens, createRandom, hashText } from './content.ts';
import type { SimContext } from './context.ts';
import { engineError, requestValidationError } from './errors.ts';
import { garbage, hang, json } from './faults.ts';
import type { GenerationRequest } from './generate.ts';
import { pyTuple } from './py-repr.ts';

const FORMATS = ['float', 'base64', 'bytes', 'bytes_only'];

/** A deterministic unit vector for an input. */
function embedding(input: string, dim: number): number[] {
  const random = createRandom(hashText(input));
  const v = Array.from({ length: dim }, () => random() * 2 - 1);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

/** The float32 bytes of a vector (embed_dtype float32, native endianness: little on the GPUs vLLM runs on). */
const float32Bytes = (vector: number[]) => new Uint8Array(new Float32Array(vector).buffer);

/** Python's json.dumps spacing (", " and ": ") for the bytes response's metadata header. */
const pythonJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (value && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`)
      .join(', ')}}`;
  return JSON.stringify(value);
};

/**
 * Serves /v1/embeddings as vLLM's pooling server (entrypoints/pooling/embed/serving.py): the
 * inputs go through the scheduler as prompts with no output; `encoding_format` float or base64
 * answers JSON, bytes and bytes_only answer application/octet-stream (metadata in a header for
 * bytes), headers sent only when the whole result is ready.
 */
export async function embed(ctx: SimContext, { request, body, baseId, headers }: GenerationRequest): Promise<Response> {
  const format = body.encoding_format ?? 'float';
  if (!FORMATS.includes(format as string)) {
    return requestValidationError([
      {
        type: 'literal_error',
        loc: pyTuple(['body', 'encoding_format']),
        msg: "Input should be 'float', 'base64', 'bytes' or 'bytes_only'",
        input: format,
        ctx: { expected: "'float', 'base64', 'bytes' or 'bytes_only'" },
      },
    ]);
  }
  const inputs =
    typeof body.input === 'string' || (Array.isArray(body.input) && typeof body.input[0] === 'number') ? [body.input] : body.input;
  if (!Array.isArray(inputs) || inputs.length === 0 || inputs.some((i) => i === '' || i === null)) {
    return engineError(400, 'input must be a non-empty string or a non-empty array of strings or token arrays.', 'input');
  }
  const counts = inputs.map((i) => (typeof i === 'string' ? countTokens(i) : Array.isArray(i) ? i.length : 1));
  const refused = checkPreparation('completion', {}, Math.max(...counts), ctx.options.maxModelLen);
  if (refused) return refused;
  const fault = ctx.rollFault(false);
  if (fault === 'error') return engineError(500, 'Simulated engine error.');
  if (fault === 'rate_limit') return engineError(429, 'Simulated rate limit (a proxy in front of the engine): too many requests.');
  if (fault === 'hang') return hang(request);
  if (fault === 'garbage') return garbage(false, ctx.dice());
  const tokens = counts.reduce((n, c) => n + c, 0);
  const id = `embd-${baseId}`;
  const created = Math.floor(Date.now() / 1000);
  const vectors = inputs.map((input) => embedding(JSON.stringify(input), ctx.options.embeddingDim));
  const reply = (): Response => {
    if (format === 'bytes' || format === 'bytes_only') {
      const chunks = vectors.map(float32Bytes);
      let offset = 0;
      const data = chunks.map((chunk, index) => {
        const item = {
          index,
          embed_dtype: 'float32',
          endianness: 'native',
          start: offset,
          end: offset + chunk.length,
          shape: [ctx.options.embeddingDim],
        };
        offset += chunk.length;
        return item;
      });
      const body = new Uint8Array(offset);
      chunks.reduce((at, chunk) => (body.set(chunk, at), at + chunk.length), 0);
      const metadata = { id, created, model: ctx.modelName, data, usage: { prompt_tokens: tokens, total_tokens: tokens } };
      return new Response(body, {
        headers: {
          'content-type': 'application/octet-stream',
          ...(format === 'bytes' ? { metadata: pythonJson(metadata) } : {}),
          ...headers,
        },
      });
    }
    const encode = (v: number[]) => (format === 'base64' ? btoa(String.fromCharCode(...float32Bytes(v))) : v);
    return json(
      {
        id,
        object: 'list',
        created,
        model: ctx.modelName,
        data: vectors.map((v, index) => ({ index, object: 'embedding', embedding: encode(v) })),
        usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null },
      },
      headers,
    );
  };
  return new Promise<Response>((resolve) => {
    let left = inputs.length;
    const handles = counts.map((promptTokens) =>
      ctx.scheduler.submit({
        promptTokens,
        tokens: 0,
        onToken() {},
        onDone() {
          ctx.finish('stop');
          if (--left === 0) resolve(reply());
        },
      }),
    );
    request.signal.addEventListener(
      'abort',
      () => {
        if (left > 0) ctx.stats.aborted++;
        for (const h of handles) h.abort();
        resolve(engineError(500, 'aborted'));
      },
      { once: true },
    );
  });
}
