// Saturation: a Bun worker streaming a batch from Postgres through the simulator, against a
// minimal client that keeps exactly max_num_seqs streams open with no database in between, same
// simulator, same run; then the worker again on a simulator without load gauges
// (--disable-log-stats), its slots taken from the model registry; then on the simulator playing
// llama.cpp's llama-server (--profile llamacpp: its gauges, headers only when a slot starts, the
// connection closed after each answer) and a bare OpenAI-compatible server without /metrics
// (--profile bare: slots from the registry, then learned from the worker's own requests).
// Usage: bun scripts/bench/saturation.ts [--quick] [--requests 10000] [--slots 1024]
//   [--batched-tokens 8192] [--prompt-tokens 300] [--tpot-ms 30] [--ttft-ms 40] [--output-tokens 100]
//   [--other-requests 1500] [--other-slots 64] [--other-tpot-ms 10]
import { sql } from 'drizzle-orm';
import { COMPLETION_TOKENS, RANGE_SUMS, registerModel, rows } from '../../schema/index.ts';
import {
  benchPrompt,
  createScratchDatabase,
  ensureFetchLimit,
  queueChatBatch,
  report,
  round,
  say,
  sizesFor,
  spawnBun,
  type Child,
} from './support.ts';

await ensureFetchLimit();
/**
 * An H100 under vLLM's defaults (vllm/engine/arg_utils.py, a GPU of 70 GB or more): 1,024
 * sequences and 8,192 batched tokens a step, ~30 ms a decode step; prompts of ~300 tokens and
 * ~100-token outputs, so a ramp-up spends many steps under the token budget. The other engines
 * run smaller: a workstation card's llama-server with 64 slots.
 */
const SIZES = sizesFor(
  {
    requests: 600,
    slots: 64,
    batchedTokens: 1024,
    promptTokens: 50,
    tpotMs: 4,
    ttftMs: 10,
    outputTokens: 20,
    otherRequests: 200,
    otherSlots: 16,
    otherTpotMs: 4,
  },
  {
    requests: 10_000,
    slots: 1024,
    batchedTokens: 8192,
    promptTokens: 300,
    tpotMs: 30,
    ttftMs: 40,
    outputTokens: 100,
    otherRequests: 1500,
    otherSlots: 64,
    otherTpotMs: 10,
  },
);
const PROMPT_CHARS = SIZES.promptTokens * 4;
const NAME = 'saturation';

interface Run {
  tokens: number;
  seconds: number;
}

/**
 * Keeps exactly `slots` requests in flight, each streamed and read to its end. It knows the
 * engine: a connection the engine closes after each answer (llama-server) is not reused.
 */
async function minimalClient(
  simUrl: string,
  { requests, slots, keepalive }: { requests: number; slots: number; keepalive: boolean },
): Promise<Run> {
  let next = 0;
  let tokens = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < requests) {
      const i = next++;
      const body = JSON.stringify({
        model: 'sim-model',
        messages: [{ role: 'user', content: benchPrompt(i + 1, PROMPT_CHARS) }],
        stream: true,
        stream_options: { include_usage: true },
      });
      const text = await (
        await fetch(`${simUrl}/v1/chat/completions`, { method: 'POST', body, keepalive, headers: { 'content-type': 'application/json' } })
      ).text();
      tokens += Number(/^"completion_tokens":(\d+)/.exec(text.slice(text.lastIndexOf('"completion_tokens":')))?.[1] ?? 0);
    }
  };
  await Promise.all(Array.from({ length: slots }, lane));
  return { tokens, seconds: (performance.now() - started) / 1000 };
}

/**
 * One worker process leases the batch and writes every result; timed from its first lease to its
 * last result write. With `registrySlots`, the model registry names the engine's max_num_seqs.
 */
async function fleetWorker(simUrl: string, requests: number, registrySlots: number | null = null): Promise<Run> {
  const scratch = await createScratchDatabase(NAME, 2);
  let worker: Child | undefined;
  try {
    if (registrySlots)
      await registerModel(scratch.database.db, {
        name: 'sim-model',
        source: 'sim-model',
        engineArgs: [],
        maxConcurrency: registrySlots,
        enabled: true,
      });
    const batchId = await queueChatBatch(scratch.database, requests, PROMPT_CHARS);
    worker = spawnBun(['fleet/entry/worker.ts'], {
      DATABASE_URL: scratch.url,
      ENGINE_URL: simUrl,
      WORKER_ID: 'bench-worker',
      LOG_LEVEL: 'warn',
    });
    for (;;) {
      const [batch] = await rows<{ status: string }>(scratch.database.db, sql`select status from batches where id = ${batchId}`);
      if (batch?.status === 'completed') break;
      if (worker.process.exitCode !== null)
        throw new Error(`the worker exited (${worker.process.exitCode}):\n${worker.output().slice(-4000)}`);
      await Bun.sleep(200);
    }
    const [row] = await rows<Run>(
      scratch.database.db,
      sql`select (select ${COMPLETION_TOKENS} from batches b ${RANGE_SUMS} where b.id = ${batchId})::float8 as tokens,
            extract(epoch from max(finished_at) - min(started_at))::float8 as seconds
          from results where batch_id = ${batchId}`,
    );
    return row!;
  } finally {
    await worker?.stop();
    await scratch.drop();
  }
}

const simArgs = (extra: string[]) => [
  'fleet/entry/sim.ts',
  '--port',
  '0',
  '--max-num-seqs',
  String(SIZES.slots),
  '--max-num-batched-tokens',
  String(SIZES.batchedTokens),
  '--tpot-ms',
  String(SIZES.tpotMs),
  '--ttft-ms',
  String(SIZES.ttftMs),
  '--output-tokens',
  String(SIZES.outputTokens),
  ...extra,
];
const otherArgs = (profile: string[]) => [
  'fleet/entry/sim.ts',
  '--port',
  '0',
  ...profile,
  '--tpot-ms',
  String(SIZES.otherTpotMs),
  '--ttft-ms',
  String(SIZES.ttftMs),
  '--output-tokens',
  String(SIZES.outputTokens),
];
const simUrlOf = async (child: Child) => ((await child.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string])[1];
const rate = (run: Run) => run.tokens / run.seconds;

/** The worker on another engine's simulator, as a ratio to the minimal client that knows its slots. */
async function otherEngine(label: string, profile: string[], registrySlots: number | null): Promise<number> {
  const sim = spawnBun(otherArgs(profile), {});
  try {
    const url = await simUrlOf(sim);
    const sizes = { requests: SIZES.otherRequests, slots: SIZES.otherSlots };
    say(NAME, `${label}: minimal client, exactly ${sizes.slots} streams open`);
    const minimal = await minimalClient(url, { ...sizes, keepalive: !profile.includes('llamacpp') });
    say(NAME, `${label}: one Bun worker through Postgres${registrySlots ? `, ${registrySlots} slots from the registry` : ''}`);
    const worker = await fleetWorker(url, sizes.requests, registrySlots);
    return round(rate(worker) / rate(minimal), 3);
  } finally {
    await sim.stop();
  }
}

const sim = spawnBun(simArgs([]), {});
const blindSim = spawnBun(simArgs(['--disable-log-stats']), {});
let main: { minimal: Run; fleet: Run; blind: Run };
try {
  const simUrl = await simUrlOf(sim);
  say(NAME, `minimal client: ${SIZES.requests} requests, exactly ${SIZES.slots} streams open`);
  const minimal = await minimalClient(simUrl, { requests: SIZES.requests, slots: SIZES.slots, keepalive: true });
  say(NAME, `one Bun worker through Postgres: ${SIZES.requests} requests, capacity learned from /metrics`);
  const fleet = await fleetWorker(simUrl, SIZES.requests);
  say(NAME, `the same on an engine without load gauges, ${SIZES.slots} slots from the registry`);
  const blind = await fleetWorker(await simUrlOf(blindSim), SIZES.requests, SIZES.slots);
  main = { minimal, fleet, blind };
} finally {
  await sim.stop();
  await blindSim.stop();
}
const slots = String(SIZES.otherSlots);
const llamacpp = await otherEngine(
  'llama.cpp',
  ['--profile', 'llamacpp', '--parallel', slots, '--ctx-size', String(SIZES.otherSlots * 4096), '--metrics'],
  null,
);
const bareRegistry = await otherEngine('bare server', ['--profile', 'bare', '--max-num-seqs', slots], SIZES.otherSlots);
const bareLearned = await otherEngine('bare server, slots unknown', ['--profile', 'bare', '--max-num-seqs', slots], null);

const ratio = rate(main.fleet) / rate(main.minimal);
const others = [llamacpp, bareRegistry, bareLearned];
report({
  name: NAME,
  title: 'Saturation',
  result: { value: round(rate(main.fleet)), unit: 'tokens/s', label: 'one Bun worker through Postgres' },
  reference: { value: round(rate(main.minimal)), unit: 'tokens/s', label: 'minimal client, max_num_seqs streams, no database' },
  ratio: round(ratio, 3),
  goal: '≥ 0.97 on vLLM; ≥ 0.9 on llama.cpp and a bare server',
  pass: ratio >= 0.97 && others.every((r) => r >= 0.9),
  details: {
    requests: SIZES.requests,
    max_num_seqs: SIZES.slots,
    max_num_batched_tokens: SIZES.batchedTokens,
    'prompt tokens': SIZES.promptTokens,
    'decode step (ms)': SIZES.tpotMs,
    'output tokens (mean)': SIZES.outputTokens,
    'worker seconds': round(main.fleet.seconds, 2),
    'minimal client seconds': round(main.minimal.seconds, 2),
    'ratio without /metrics gauges, slots from the registry': round(rate(main.blind) / rate(main.minimal), 3),
    'other engines: requests, slots, decode step (ms)': `${SIZES.otherRequests}, ${SIZES.otherSlots}, ${SIZES.otherTpotMs}`,
    'ratio on llama.cpp (--profile llamacpp, its gauges)': llamacpp,
    'ratio on a bare server, slots from the registry': bareRegistry,
    'ratio on a bare server, slots learned from its answers': bareLearned,
  },
});
