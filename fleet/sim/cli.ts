import { z } from 'zod';
import { SIM_PROFILES, SIM_DEFAULTS, type SimOptions } from './options.ts';

/** The simulator's command line: vLLM's `serve SOURCE --served-model-name NAME ...`, or the older flags. */
export const SIM_USAGE = `usage: npm run sim -- serve SOURCE [--served-model-name NAME [NAME...]] [--port 8100] [--host 127.0.0.1]
         [--max-num-seqs 256] [--max-num-batched-tokens 2048] [--max-model-len 8192]
         [--num-gpu-blocks-override N] [--block-size 16] [--disable-log-stats] [--api-key KEY]
         [--enable-request-id-headers] [--reasoning-parser NAME] [--max-logprobs 20]
         [--ttft-ms 40] [--tpot-ms 8] [--output-tokens 100] [--embedding-dim 32]  (vLLM flags it does not
         model, e.g. --dtype auto, are accepted after serve and ignored)
   or: npm run sim -- [--port 8100] [--model sim-model[,other]] [--slots 256] [same flags as above]
  --profile vllm|llamacpp|sglang|bare (default vllm): the engine whose HTTP surface it plays; scheduler and
  timing stay the same. llamacpp = llama-server: [--parallel|-np N] slots, [--ctx-size|-c N] shared by them
  (a slot holds N/parallel tokens), [--metrics] (else /metrics is its 501), [--alias|-a NAME], [-m PATH],
  [--load-ms 0] (503 "Loading model" meanwhile); headers only when a slot starts a stream, the connection
  dropped after each stream although Keep-Alive is advertised. sglang: [--enable-metrics] for its gauges.
  bare: a proxy in front of vLLM, no /metrics (404).
  A stand-in for \`vllm serve\` (V1 engine) without a GPU: a step scheduler with a token budget, chunked
  prefill and a KV cache that preempts; made-up but deterministic replies.
  faults: [--error-rate 0..1] [--hang-rate 0..1] [--disconnect-rate 0..1] [--stall-rate 0..1]
          [--garbage-rate 0..1] [--abort-rate 0..1] (finish_reason "abort" midway) [--crash-after N] [--seed N]
          [--format-error-rate 0..1]: llama-server's 500 "Failed to parse input at pos N", the same on every retry
          [--rate-limit-rate 0..1]: 429s, which vLLM never sends; a rate-limiting proxy in front of it does`;

const rate = z.coerce.number().min(0).max(1);
const count = z.coerce.number().int().min(0);
const positive = z.coerce.number().int().positive();

/** Every flag that takes a value, with its schema; the aliases map old names onto these. */
const valueFlags = {
  profile: z.enum(SIM_PROFILES as [string, ...string[]]).default('vllm'),
  parallel: positive.optional(),
  'ctx-size': positive.optional(),
  'load-ms': z.coerce.number().min(0).default(0),
  'format-error-rate': rate.default(0),
  port: z.coerce.number().int().min(0).max(65535).default(8100),
  host: z.string().default('127.0.0.1'),
  model: z.string().optional(),
  'served-model-name': z.array(z.string().min(1)).optional(),
  'max-num-seqs': positive.default(SIM_DEFAULTS.slots),
  'max-num-batched-tokens': positive.default(SIM_DEFAULTS.maxNumBatchedTokens),
  'max-model-len': positive.default(SIM_DEFAULTS.maxModelLen),
  'num-gpu-blocks-override': positive.optional(),
  'block-size': positive.default(SIM_DEFAULTS.blockSize),
  'api-key': z.array(z.string().min(1)).optional(),
  'reasoning-parser': z.string().min(1).optional(),
  'max-logprobs': z.coerce.number().int().min(-1).default(SIM_DEFAULTS.maxLogprobs),
  'ttft-ms': z.coerce.number().min(0).default(SIM_DEFAULTS.ttftMs),
  'tpot-ms': z.coerce.number().positive().default(SIM_DEFAULTS.tpotMs),
  'output-tokens': positive.default(SIM_DEFAULTS.outputTokens),
  'embedding-dim': positive.default(SIM_DEFAULTS.embeddingDim),
  'error-rate': rate.default(0),
  'rate-limit-rate': rate.default(0),
  'hang-rate': rate.default(0),
  'disconnect-rate': rate.default(0),
  'stall-rate': rate.default(0),
  'garbage-rate': rate.default(0),
  'abort-rate': rate.default(0),
  'crash-after': count.default(0),
  seed: count.default(1),
};
const booleanFlags = ['disable-log-stats', 'enable-request-id-headers', 'metrics'] as const;
/** Flags that take one or more values, as vLLM's `nargs="+"`. */
const listFlags = new Set(['served-model-name', 'api-key']);
const ALIASES: Record<string, string> = { slots: 'max-num-seqs', 'enable-metrics': 'metrics', alias: 'served-model-name' };
/** llama-server's short flags: -np (--parallel), -c (--ctx-size), -a (--alias), -m (the model path). */
const SHORT: Record<string, string> = { '-np': 'parallel', '-c': 'ctx-size', '-a': 'alias', '-m': 'model' };
const schema = z.object({
  ...valueFlags,
  'disable-log-stats': z.boolean().default(false),
  'enable-request-id-headers': z.boolean().default(false),
  metrics: z.boolean().default(false),
});

/** A flag rather than a value: `--name`, or a short one such as llama-server's `-np` (not a negative number). */
const isFlag = (arg: string) => /^--?[a-z]/i.test(arg);

/** What {@link parseSimArgs} returns: the simulator's options, where it listens, and the vLLM flags it ignored. */
export type SimArgs = SimOptions & { port: number; host: string; ignored: string[] };

/**
 * Parses the simulator's arguments; throws an Error naming every bad flag. After `serve`, vLLM
 * flags the simulator does not model are collected in `ignored` (a registry's engine_args must
 * not break it); without `serve`, an unknown flag is an error, so a misspelling is caught.
 */
export function parseSimArgs(argv: string[]): SimArgs {
  const serve = argv[0] === 'serve';
  const args = serve ? argv.slice(1) : argv;
  const values: Record<string, unknown> = {};
  const ignored: string[] = [];
  /** The spelling each flag was given in (`--slots` for max-num-seqs), for the errors. */
  const spelled: Record<string, string> = {};
  let source: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const given = args[i] as string;
    const arg = SHORT[given] ? `--${SHORT[given]}` : given;
    if (serve && /^-[a-z]/i.test(arg)) {
      // A short engine flag the simulator does not model (llama-server's -ngl 99, -fa): ignored with its value.
      const next = args[i + 1];
      ignored.push(next !== undefined && !isFlag(next) ? `${given} ${args[++i]}` : given);
      continue;
    }
    if (!arg.startsWith('--')) {
      if (serve && source === undefined && i === 0) source = arg;
      else throw new Error(`unexpected argument '${arg}'`);
      continue;
    }
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const name = ALIASES[rawName] ?? rawName;
    spelled[name] = rawName;
    const takeValue = () => {
      if (inline !== undefined) return inline;
      const next = args[i + 1];
      if (next === undefined || isFlag(next)) throw new Error(`--${rawName}: a value is required`);
      i++;
      return next;
    };
    if ((booleanFlags as readonly string[]).includes(name)) {
      values[name] = inline === undefined ? true : !['false', '0'].includes(inline);
    } else if (listFlags.has(name)) {
      const list = inline !== undefined ? [inline] : [];
      while (inline === undefined && args[i + 1] !== undefined && !isFlag(args[i + 1] as string)) list.push(args[++i] as string);
      if (!list.length) throw new Error(`--${rawName}: a value is required`);
      values[name] = [...((values[name] as string[] | undefined) ?? []), ...list];
    } else if (name in valueFlags) {
      values[name] = takeValue();
    } else if (serve) {
      // An engine flag the simulator does not model (--dtype auto, --enable-prefix-caching): its value, if any, goes with it.
      const next = args[i + 1];
      ignored.push(inline === undefined && next !== undefined && !isFlag(next) ? `${given} ${args[++i]}` : given);
    } else {
      throw new Error(`Unknown option '${arg}'`);
    }
  }
  const result = schema.safeParse(values);
  if (!result.success) {
    throw new Error(result.error.issues.map((i) => `--${spelled[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`).join('\n'));
  }
  const v = result.data;
  // After `serve`, --model is vLLM's: the source. Before, it is the simulator's list of served names.
  if (serve && source === undefined && v.model) source = v.model;
  const oldNames = serve
    ? undefined
    : v.model
        ?.split(',')
        .map((m) => m.trim())
        .filter(Boolean);
  const models = v['served-model-name'] ?? oldNames ?? (source ? [source] : SIM_DEFAULTS.models);
  // llama-server: -np slots share -c tokens of context (n_ctx_slot = n_ctx / n_parallel).
  const slots = v.parallel ?? v['max-num-seqs'];
  const ctxSize = v['ctx-size'];
  return {
    profile: v.profile as SimOptions['profile'],
    metrics: v.metrics,
    loadMs: v['load-ms'],
    formatErrorRate: v['format-error-rate'],
    port: v.port,
    host: v.host,
    ignored,
    models,
    source: source ?? null,
    slots,
    maxNumBatchedTokens: v['max-num-batched-tokens'],
    kvCacheTokens: ctxSize ?? (v['num-gpu-blocks-override'] ? v['num-gpu-blocks-override'] * v['block-size'] : 0),
    blockSize: v['block-size'],
    maxModelLen: ctxSize ? Math.floor(ctxSize / slots) : v['max-model-len'],
    ttftMs: v['ttft-ms'],
    tpotMs: v['tpot-ms'],
    outputTokens: v['output-tokens'],
    embeddingDim: v['embedding-dim'],
    disableLogStats: v['disable-log-stats'],
    apiKey: v['api-key'] ?? [],
    enableRequestIdHeaders: v['enable-request-id-headers'],
    reasoningParser: v['reasoning-parser'] ?? null,
    maxLogprobs: v['max-logprobs'],
    errorRate: v['error-rate'],
    rateLimitRate: v['rate-limit-rate'],
    hangRate: v['hang-rate'],
    disconnectRate: v['disconnect-rate'],
    stallRate: v['stall-rate'],
    garbageRate: v['garbage-rate'],
    abortRate: v['abort-rate'],
    crashAfter: v['crash-after'],
    seed: v.seed,
  };
}
