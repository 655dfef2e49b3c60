import { parseArgs } from 'node:util';
import { z } from 'zod';

/** How the simulator behaves: its capacity, its timings and the faults it injects. */
export interface SimOptions {
  /** The served model names; requests naming another model get vLLM's 404. */
  models: string[];
  /** Sequence slots (vLLM's max_num_seqs): how many requests decode at once. */
  slots: number;
  ttftMs: number;
  /** Time per output token: the length of one decode step. */
  tpotMs: number;
  /** Mean output length; each request's length is drawn from its body, capped by max_tokens. */
  outputTokens: number;
  embeddingDim: number;
  /** Fractions of generation requests that fail in each way (0..1). */
  errorRate: number;
  rateLimitRate: number;
  hangRate: number;
  disconnectRate: number;
  stallRate: number;
  /** Fraction of requests answered with garbage: a 200 of truncated JSON or of SSE events that are not JSON, or a 502 of binary junk. */
  garbageRate: number;
  /** The process crashes when this many generation requests have arrived (0 = never). */
  crashAfter: number;
  /** Seed of the fault dice (replies do not depend on it). */
  seed: number;
}

/** Defaults: a small GPU. Its capacity is slots * 1000 / tpotMs tokens per second. */
export const SIM_DEFAULTS: SimOptions = {
  models: ['sim-model'],
  slots: 256,
  ttftMs: 40,
  tpotMs: 8,
  outputTokens: 100,
  embeddingDim: 32,
  errorRate: 0,
  rateLimitRate: 0,
  hangRate: 0,
  disconnectRate: 0,
  stallRate: 0,
  garbageRate: 0,
  crashAfter: 0,
  seed: 1,
};

const rate = z.coerce.number().min(0).max(1);
const count = z.coerce.number().int().min(0);

const cliSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535).default(8100),
  host: z.string().default('127.0.0.1'),
  model: z.string().default(SIM_DEFAULTS.models.join(',')),
  slots: z.coerce.number().int().positive().default(SIM_DEFAULTS.slots),
  'ttft-ms': z.coerce.number().min(0).default(SIM_DEFAULTS.ttftMs),
  'tpot-ms': z.coerce.number().positive().default(SIM_DEFAULTS.tpotMs),
  'output-tokens': z.coerce.number().int().positive().default(SIM_DEFAULTS.outputTokens),
  'embedding-dim': z.coerce.number().int().positive().default(SIM_DEFAULTS.embeddingDim),
  'error-rate': rate.default(0),
  'rate-limit-rate': rate.default(0),
  'hang-rate': rate.default(0),
  'disconnect-rate': rate.default(0),
  'stall-rate': rate.default(0),
  'garbage-rate': rate.default(0),
  'crash-after': count.default(0),
  seed: count.default(1),
});

/** The simulator's command line: `--port 8100 --model NAME[,NAME] --slots 256 --ttft-ms 40 --tpot-ms 8 ...`. */
export const SIM_USAGE = `usage: npm run sim -- [--port 8100] [--host 127.0.0.1] [--model sim-model[,other]] [--slots 256]
  [--ttft-ms 40] [--tpot-ms 8] [--output-tokens 100] [--embedding-dim 32]
  faults: [--error-rate 0..1] [--rate-limit-rate 0..1] [--hang-rate 0..1] [--disconnect-rate 0..1]
          [--stall-rate 0..1] [--garbage-rate 0..1] [--crash-after N] [--seed N]`;

/** Parses the simulator's arguments; throws an Error naming every bad flag. */
export function parseSimArgs(argv: string[]): SimOptions & { port: number; host: string } {
  const options = Object.fromEntries(Object.keys(cliSchema.shape).map((k) => [k, { type: 'string' as const }]));
  const { values } = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  const result = cliSchema.safeParse(values);
  if (!result.success) {
    throw new Error(result.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('\n'));
  }
  const v = result.data;
  return {
    port: v.port,
    host: v.host,
    models: v.model.split(',').map((m) => m.trim()).filter(Boolean),
    slots: v.slots,
    ttftMs: v['ttft-ms'],
    tpotMs: v['tpot-ms'],
    outputTokens: v['output-tokens'],
    embeddingDim: v['embedding-dim'],
    errorRate: v['error-rate'],
    rateLimitRate: v['rate-limit-rate'],
    hangRate: v['hang-rate'],
    disconnectRate: v['disconnect-rate'],
    stallRate: v['stall-rate'],
    garbageRate: v['garbage-rate'],
    crashAfter: v['crash-after'],
    seed: v.seed,
  };
}
