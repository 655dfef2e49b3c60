// Fleet saturation, measured roughly: one worker (through Postgres) against a minimal client that
// keeps every slot filled with no database in between, on the same simulator in the same run.
// Usage: bun scripts/measure-saturation.ts [--requests 6000] [--slots 1024] [--tpot-ms 30]
//   [--ttft-ms 40] [--output-tokens 100] [--rounds 1]  (Postgres: TEST_POSTGRES_URL or 127.0.0.1:5432)
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { sql } from 'drizzle-orm';
import { batches, createDatabase, newId, requests, rows, runMigrations } from '../schema/index.ts';

if (!process.env.BUN_CONFIG_MAX_HTTP_REQUESTS) {
  // Bun reads the fetch limit at start-up: run again with it set.
  const child = Bun.spawn([process.execPath, ...process.argv.slice(1)], { env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: '8192' }, stdio: ['inherit', 'inherit', 'inherit'] });
  process.exit(await child.exited);
}

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '6000' },
    slots: { type: 'string', default: '1024' },
    'tpot-ms': { type: 'string', default: '30' },
    'ttft-ms': { type: 'string', default: '40' },
    'output-tokens': { type: 'string', default: '100' },
    rounds: { type: 'string', default: '1' },
  },
});
const N = Number(values.requests);
const slots = Number(values.slots);
const adminUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const bun = process.execPath;

const sim = Bun.spawn([bun, 'fleet/entry/sim.ts', '--port', '0', '--slots', String(slots), '--tpot-ms', values['tpot-ms'], '--ttft-ms', values['ttft-ms'], '--output-tokens', values['output-tokens']], { stderr: 'pipe' });
const simUrl = await firstMatch(sim.stderr, /"url":"(http:[^"]+)"/);

/** Keeps slots + 3% in flight, each request streamed and read to its end; no database. */
async function minimalClient(): Promise<{ tokens: number; seconds: number }> {
  let next = 0;
  let tokens = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < N) {
      const i = next++;
      const body = JSON.stringify({ model: 'sim-model', messages: [{ role: 'user', content: `question ${i + 1}` }], stream: true, stream_options: { include_usage: true } });
      const text = await (await fetch(`${simUrl}/v1/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).text();
      tokens += Number(/"completion_tokens":(\d+)/.exec(text.slice(-300))?.[1] ?? 0);
    }
  };
  await Promise.all(Array.from({ length: slots + Math.max(8, Math.ceil(slots * 0.03)) }, lane));
  return { tokens, seconds: (performance.now() - started) / 1000 };
}

/** One worker process leasing a batch of N requests from a scratch database and writing every result. */
async function fleetWorker(): Promise<{ tokens: number; seconds: number }> {
  const name = `vbs_measure_${process.pid}_${Date.now().toString(36)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await createDatabase({ url: url.toString(), maxConnections: 2 });
  try {
    await runMigrations(database);
    const batchId = newId('batch_');
    await database.db.insert(batches).values({ id: batchId, owner: 'measure', endpoint: '/v1/chat/completions', model: 'sim-model', completionWindow: '24h', status: 'in_progress', inputFileId: newId('file-'), total: N, inProgressAt: new Date(), expiresAt: new Date(Date.now() + 86_400_000) });
    for (let from = 0; from < N; from += 5000) {
      await database.db.insert(requests).values(
        Array.from({ length: Math.min(5000, N - from) }, (_, k) => ({ batchId, line: from + k + 1, customId: `req-${from + k + 1}`, model: 'sim-model', body: JSON.stringify({ model: 'sim-model', messages: [{ role: 'user', content: `question ${from + k + 1}` }] }) })),
      );
    }
    const worker = Bun.spawn([bun, 'fleet/entry/worker.ts'], { env: { ...process.env, DATABASE_URL: url.toString(), ENGINE_URL: simUrl, LOG_LEVEL: 'warn' }, stderr: 'inherit' });
    for (;;) {
      const [batch] = await rows<{ status: string }>(database.db, sql`select status from batches where id = ${batchId}`);
      if (batch?.status === 'completed') break;
      await Bun.sleep(200);
    }
    worker.kill('SIGTERM');
    await worker.exited;
    const [row] = await rows<{ tokens: number; seconds: number }>(
      database.db,
      sql`select (select completion_tokens from batches where id = ${batchId})::float8 as tokens,
            extract(epoch from max(finished_at) - min(started_at))::float8 as seconds
          from requests where batch_id = ${batchId}`,
    );
    return row as { tokens: number; seconds: number };
  } finally {
    await database.close();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

try {
  const capacity = Math.round((slots * 1000) / Number(values['tpot-ms']));
  for (let round = 1; round <= Number(values.rounds); round++) {
    const minimal = await minimalClient();
    const fleet = await fleetWorker();
    const rate = (r: { tokens: number; seconds: number }) => Math.round(r.tokens / r.seconds);
    console.log(JSON.stringify({ round, requests: N, slots, simulatorCapacityTokensPerSecond: capacity, minimalClientTokensPerSecond: rate(minimal), fleetTokensPerSecond: rate(fleet), ratio: +(rate(fleet) / rate(minimal)).toFixed(3) }));
  }
} finally {
  sim.kill();
}

async function firstMatch(stream: ReadableStream<Uint8Array>, pattern: RegExp): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    const match = pattern.exec(text);
    if (match?.[1]) return match[1];
  }
  throw new Error(`the simulator exited before printing its URL:\n${text}`);
}
