// Saturation: a Bun worker streaming a batch from Postgres through the simulator, against a
// minimal client that keeps exactly max_num_seqs streams open with no database in between, same
// simulator, same run; then the worker again on a simulator without load gauges
// (--disable-log-stats), its slots taken from the model registry. Usage: bun
// scripts/bench/saturation.ts [--quick] [--requests 10000] [--slots 1024] [--batched-tokens 8192]
//   [--prompt-tokens 300] [--tpot-ms 30] [--ttft-ms 40] [--output-tokens 100]
import { sql } from 'drizzle-orm';
import { registerModel, rows } from '../../schema/index.ts';
import { benchPrompt, createScratchDatabase, ensureFetchLimit, queueChatBatch, report, round, say, sizesFor, spawnBun, type Child } from './support.ts';

await ensureFetchLimit();
/**
 * An H100 under vLLM's defaults (vllm/engine/arg_utils.py, a GPU of 70 GB or more): 1,024
 * sequences and 8,192 batched tokens a step, ~30 ms a decode step; prompts of ~300 tokens and
 * ~100-token outputs, so a ramp-up spends many steps under the token budget.
 */
const SIZES = sizesFor(
  { requests: 600, slots: 64, batchedTokens: 1024, promptTokens: 50, tpotMs: 4, ttftMs: 10, outputTokens: 20 },
  { requests: 10_000, slots: 1024, batchedTokens: 8192, promptTokens: 300, tpotMs: 30, ttftMs: 40, outputTokens: 100 },
);
const PROMPT_CHARS = SIZES.promptTokens * 4;
const NAME = 'saturation';

interface Run {
  tokens: number;
  seconds: number;
}

/** Keeps exactly max_num_seqs requests in flight, each streamed and read to its end. */
async function minimalClient(simUrl: string): Promise<Run> {
  let next = 0;
  let tokens = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < SIZES.requests) {
      const i = next++;
      const body = JSON.stringify({ model: 'sim-model', messages: [{ role: 'user', content: benchPrompt(i + 1, PROMPT_CHARS) }], stream: true, stream_options: { include_usage: true } });
      const text = await (await fetch(`${simUrl}/v1/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).text();
      tokens += Number(/"completion_tokens":(\d+)/.exec(text.slice(-300))?.[1] ?? 0);
    }
  };
  await Promise.all(Array.from({ length: SIZES.slots }, lane));
  return { tokens, seconds: (performance.now() - started) / 1000 };
}


/**
 * One worker process leases the batch and writes every result; timed from its first lease to its
 * last result write. With `registrySlots`, the model registry names the engine's max_num_seqs.
 */
async function fleetWorker(simUrl: string, registrySlots: number | null = null): Promise<Run> {
  const scratch = await createScratchDatabase(NAME, 2);
  let worker: Child | undefined;
  try {
    if (registrySlots) await registerModel(scratch.database.db, { name: 'sim-model', source: 'sim-model', engineArgs: [], maxConcurrency: registrySlots, enabled: true });
    const batchId = await queueChatBatch(scratch.database, SIZES.requests, PROMPT_CHARS);
    worker = spawnBun(['fleet/entry/worker.ts'], { DATABASE_URL: scratch.url, ENGINE_URL: simUrl, WORKER_ID: 'bench-worker', LOG_LEVEL: 'warn' });
    for (;;) {
      const [batch] = await rows<{ status: string }>(scratch.database.db, sql`select status from batches where id = ${batchId}`);
      if (batch?.status === 'completed') break;
      if (worker.process.exitCode !== null) throw new Error(`the worker exited (${worker.process.exitCode}):\n${worker.output().slice(-4000)}`);
      await Bun.sleep(200);
    }
    const [row] = await rows<Run>(
      scratch.database.db,
      sql`select (select completion_tokens from batches where id = ${batchId})::float8 as tokens,
            extract(epoch from max(finished_at) - min(started_at))::float8 as seconds
          from requests where batch_id = ${batchId}`,
    );
    return row!;
  } finally {
    await worker?.stop();
    await scratch.drop();
  }
}

const simArgs = (extra: string[]) => [
  'fleet/entry/sim.ts', '--port', '0', '--max-num-seqs', String(SIZES.slots), '--max-num-batched-tokens', String(SIZES.batchedTokens),
  '--tpot-ms', String(SIZES.tpotMs), '--ttft-ms', String(SIZES.ttftMs), '--output-tokens', String(SIZES.outputTokens), ...extra,
];
const simUrlOf = async (child: Child) => ((await child.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string])[1];
const sim = spawnBun(simArgs([]), {});
const blindSim = spawnBun(simArgs(['--disable-log-stats']), {});
try {
  const simUrl = await simUrlOf(sim);
  say(NAME, `minimal client: ${SIZES.requests} requests, exactly ${SIZES.slots} streams open`);
  const minimal = await minimalClient(simUrl);
  say(NAME, `one Bun worker through Postgres: ${SIZES.requests} requests, capacity learned from /metrics`);
  const fleet = await fleetWorker(simUrl);
  say(NAME, `the same on an engine without load gauges, ${SIZES.slots} slots from the registry`);
  const blind = await fleetWorker(await simUrlOf(blindSim), SIZES.slots);
  const fleetRate = fleet.tokens / fleet.seconds;
  const minimalRate = minimal.tokens / minimal.seconds;
  const ratio = fleetRate / minimalRate;
  report({
    name: NAME,
    title: 'Saturation',
    result: { value: round(fleetRate), unit: 'tokens/s', label: 'one Bun worker through Postgres' },
    reference: { value: round(minimalRate), unit: 'tokens/s', label: 'minimal client, max_num_seqs streams, no database' },
    ratio: round(ratio, 3),
    goal: '≥ 0.97',
    pass: ratio >= 0.97,
    details: {
      requests: SIZES.requests,
      'max_num_seqs': SIZES.slots,
      'max_num_batched_tokens': SIZES.batchedTokens,
      'prompt tokens': SIZES.promptTokens,
      'decode step (ms)': SIZES.tpotMs,
      'output tokens (mean)': SIZES.outputTokens,
      'worker seconds': round(fleet.seconds, 2),
      'minimal client seconds': round(minimal.seconds, 2),
      'ratio without /metrics gauges, slots from the registry': round(blind.tokens / blind.seconds / minimalRate, 3),
    },
  });
} finally {
  await sim.stop();
  await blindSim.stop();
}
