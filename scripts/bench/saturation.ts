// Saturation: a Bun worker streaming a batch from Postgres through the simulator, against a
// minimal client that keeps every slot filled with no database in between, same simulator,
// same run. Usage: bun scripts/bench/saturation.ts [--quick] [--requests 10000] [--slots 1024]
//   [--tpot-ms 30] [--ttft-ms 40] [--output-tokens 100]
import { sql } from 'drizzle-orm';
import { rows } from '../../schema/index.ts';
import { createScratchDatabase, ensureFetchLimit, queueChatBatch, report, round, say, sizesFor, spawnBun, type Child } from './support.ts';

await ensureFetchLimit();
/** An H100 under vLLM's defaults: 1,024 sequences, ~30 ms per decode step; ~100-token outputs. */
const SIZES = sizesFor({ requests: 600, slots: 64, tpotMs: 4, ttftMs: 10, outputTokens: 20 }, { requests: 10_000, slots: 1024, tpotMs: 30, ttftMs: 40, outputTokens: 100 });
const NAME = 'saturation';

interface Run {
  tokens: number;
  seconds: number;
}

/** Keeps slots + 3% in flight (the worker's own margin), each request streamed and read to its end. */
async function minimalClient(simUrl: string): Promise<Run> {
  let next = 0;
  let tokens = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < SIZES.requests) {
      const i = next++;
      const body = JSON.stringify({ model: 'sim-model', messages: [{ role: 'user', content: `question ${i + 1}` }], stream: true, stream_options: { include_usage: true } });
      const text = await (await fetch(`${simUrl}/v1/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).text();
      tokens += Number(/"completion_tokens":(\d+)/.exec(text.slice(-300))?.[1] ?? 0);
    }
  };
  await Promise.all(Array.from({ length: SIZES.slots + Math.max(8, Math.ceil(SIZES.slots * 0.03)) }, lane));
  return { tokens, seconds: (performance.now() - started) / 1000 };
}


/** One worker process leases the batch and writes every result; timed from its first lease to its last result write. */
async function fleetWorker(simUrl: string): Promise<Run> {
  const scratch = await createScratchDatabase(NAME, 2);
  let worker: Child | undefined;
  try {
    const batchId = await queueChatBatch(scratch.database, SIZES.requests);
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

const sim = spawnBun(
  ['fleet/entry/sim.ts', '--port', '0', '--slots', String(SIZES.slots), '--tpot-ms', String(SIZES.tpotMs), '--ttft-ms', String(SIZES.ttftMs), '--output-tokens', String(SIZES.outputTokens)],
  {},
);
try {
  const [, simUrl] = (await sim.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string];
  say(NAME, `minimal client: ${SIZES.requests} requests, ${SIZES.slots} slots`);
  const minimal = await minimalClient(simUrl);
  say(NAME, `one Bun worker through Postgres: ${SIZES.requests} requests`);
  const fleet = await fleetWorker(simUrl);
  const fleetRate = fleet.tokens / fleet.seconds;
  const minimalRate = minimal.tokens / minimal.seconds;
  const ratio = fleetRate / minimalRate;
  report({
    name: NAME,
    title: 'Saturation',
    result: { value: round(fleetRate), unit: 'tokens/s', label: 'one Bun worker through Postgres' },
    reference: { value: round(minimalRate), unit: 'tokens/s', label: 'minimal client, no database' },
    ratio: round(ratio, 3),
    goal: '≥ 0.97',
    pass: ratio >= 0.97,
    details: {
      requests: SIZES.requests,
      slots: SIZES.slots,
      'decode step (ms)': SIZES.tpotMs,
      'output tokens (mean)': SIZES.outputTokens,
      'simulator capacity (tokens/s)': Math.round((SIZES.slots * 1000) / SIZES.tpotMs),
      'worker seconds': round(fleet.seconds, 2),
      'minimal client seconds': round(minimal.seconds, 2),
    },
  });
} finally {
  await sim.stop();
}
