// The queue statements' throughput: concurrent workers lease, write results (in three pages
// per lease, with a 600-byte response each) and heartbeat, on a scratch database.
// Usage: bun scripts/measure-lease-rate.ts [WORKERS=4] [LEASE_SIZE=256] [REQUESTS=100000]
//   (Postgres: TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/postgres)
import postgres from 'postgres';
import { sql } from 'drizzle-orm';
import { completeRequests, createDatabase, heartbeatLeases, leaseRequests, runMigrations } from '../schema/index.ts';

const [workers, leaseSize, total] = [4, 256, 100_000].map((fallback, i) => Number(process.argv[2 + i] ?? fallback)) as [number, number, number];
const adminUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const name = `vbs_lease_rate_${process.pid}`;
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database "${name}"`);
const url = new URL(adminUrl);
url.pathname = `/${name}`;
const database = await createDatabase({ url: url.toString(), maxConnections: workers + 2 });
try {
  await runMigrations(database);
  await database.db.execute(sql`insert into batches (id, owner, endpoint, model, completion_window, status, input_file_id, total, expires_at)
    values ('batch_measure', 'measure', '/v1/chat/completions', 'm', '24h', 'in_progress', 'file-measure', ${total}, now() + interval '1 day')`);
  await database.db.execute(sql`insert into requests (batch_id, line, custom_id, model, body)
    select 'batch_measure', g, 'req-' || g, 'm', '{"model":"m","messages":[{"role":"user","content":"question ' || g || '"}]}' from generate_series(1, ${total}) g`);
  await database.db.execute(sql`analyze requests`);
  const response = JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'word '.repeat(100), tool_calls: [] }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 100, total_tokens: 110 } });
  const page = Math.ceil(leaseSize / 3);
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, i) => {
      const owner = `w${i}`;
      let beatAt = performance.now();
      for (;;) {
        const leased = await leaseRequests(database.db, { owner, model: 'm', limit: leaseSize, leaseMs: 6000 });
        if (leased.length === 0) break;
        if (performance.now() - beatAt > 2000) {
          await heartbeatLeases(database.db, { owner, leaseMs: 6000, ids: leased.map((r) => r.id) });
          beatAt = performance.now();
        }
        for (let k = 0; k < leased.length; k += page) {
          const results = leased.slice(k, k + page).map((r) => ({ id: r.id, status: 'succeeded' as const, statusCode: 200, response, engineRequestId: 'x', error: null, promptTokens: 10, completionTokens: 100 }));
          await completeRequests(database.db, owner, results);
        }
        done += leased.length;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ workers, leaseSize, requests: done, seconds: +seconds.toFixed(2), requestsPerSecond: Math.round(done / seconds) }));
} finally {
  await database.close();
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
}
