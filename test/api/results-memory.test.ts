import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisBus, publishBatchProgress, publishBatchStatus } from '../../core/events/index.ts';
import { TEST_REDIS_URL } from '../config.ts';
import { uniquePrefix } from '../events/helpers.ts';
import { insertBatch } from '../events/harness.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';

/**
 * 5,000 lines in `npm test` (about a tenth of the CPU); the figure in docs/performance.md is of
 * 50,000: `RESULTS_MEMORY_LINES=50000 npx vitest run test/api/results-memory.test.ts`.
 */
const LINES = Number(process.env.RESULTS_MEMORY_LINES ?? 5_000);
const SUBSCRIBERS = 100;
/** Lines already written when the subscribers start; the rest are written while they read, in steps. */
const WRITTEN_BEFORE = LINES / 2;
const STEP = LINES / 50;
/**
 * Generous on purpose (the machine and the garbage collector are noisy): docs/performance.md has
 * the measured peaks (167–186 MB at 50,000 lines). Subscribers that each held the batch's results
 * whole (5,000 lines of about 500 bytes, 100 times: 250 MB over the gateway's 90 MB at start)
 * would be over it.
 */
const MAX_PEAK_RSS_MB = 260;

const peakRssMb = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
/** User and system CPU seconds a process has used (/proc/PID/stat, clock ticks of 1/100 s). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

/** A response body of about 400 bytes, like a short chat completion's. */
const RESPONSE = sql`'{"id":"chatcmpl-' || r.line || '","object":"chat.completion","created":1764840000,"model":"sim-model","choices":[{"index":0,"message":{"role":"assistant","content":"' || repeat('lorem ipsum dolor ', 12) || r.line || '"},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":16,"total_tokens":36}}'`;

/**
 * Reads a `batchResults` stream over SSE without parsing it (the test process must not be the
 * bottleneck): counts the `next` events, keeps the last line number, and whether it completed.
 */
async function subscribe(url: string, batchId: string): Promise<{ events: number; lastLine: number; completed: boolean }> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({
      query: 'subscription ($id: ID!) { batchResults(batchId: $id) { line outputLine } }',
      variables: { id: batchId },
    }),
  });
  expect(response.status).toBe(200);
  const decoder = new TextDecoder();
  let events = 0;
  let lastLine = 0;
  let completed = false;
  let carry = '';
  for await (const chunk of response.body!) {
    const text = carry + decoder.decode(chunk, { stream: true });
    const end = text.lastIndexOf('\n\n');
    if (end < 0) {
      carry = text;
      continue;
    }
    const whole = text.slice(0, end);
    carry = text.slice(end + 2);
    for (let at = whole.indexOf('event: next'); at >= 0; at = whole.indexOf('event: next', at + 11)) events += 1;
    const at = whole.lastIndexOf('{"line":');
    if (at >= 0) lastLine = Number.parseInt(whole.slice(at + 8, at + 20), 10);
    if (whole.includes('event: complete')) completed = true;
  }
  return { events, lastLine, completed };
}

describe(`${SUBSCRIBERS} batchResults subscribers of a ${LINES.toLocaleString('en')}-line batch on a Bun gateway`, () => {
  const test = useTestDatabase();
  let gateway: Running | undefined;
  afterAll(async () => {
    await gateway?.stop();
  });

  it(`get every line, half written before and half while they read, with the gateway's peak memory under ${MAX_PEAK_RSS_MB} MB`, {
    timeout: 600_000,
  }, async () => {
    const { database, url: databaseUrl } = test();
    const prefix = uniquePrefix();
    const bus = await createRedisBus({ url: TEST_REDIS_URL, prefix });
    try {
      const id = await insertBatch(database, { total: LINES });
      await database.db.execute(sql`insert into requests (batch_id, line, custom_id, model, body)
        select ${id}, l, 'req-' || l, 'sim-model', '{}' from generate_series(1, ${LINES}) as l`);
      const write = (from: number, to: number) =>
        database.db.execute(sql`insert into results (batch_id, line, status, status_code, response, prompt_tokens, completion_tokens)
          select r.batch_id, r.line, 'succeeded', 200, ${RESPONSE}, 20, 16 from requests r
          where r.batch_id = ${id} and r.line between ${from} and ${to}`);
      await write(1, WRITTEN_BEFORE);

      gateway = start(BUN, ['gateway/entry/bun.ts'], {
        env: { DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix, PORT: '0', LOG_LEVEL: 'info' },
      });
      const [, url] = await gateway.waitFor(/"url":"(http:[^"]+)"/, 30_000);
      const pid = gateway.child.pid!;
      const baseline = peakRssMb(pid);
      const startedAt = Date.now();

      const ownCpu = process.cpuUsage();
      let maxLoad = 0;
      const sampler = setInterval(() => {
        maxLoad = Math.max(maxLoad, loadavg()[0]!);
      }, 2_000);
      const readers = Promise.all(Array.from({ length: SUBSCRIBERS }, () => subscribe(url!, id)));
      const progress = {
        batchId: id,
        owner: 'local',
        status: 'in_progress' as const,
        total: LINES,
        failed: 0,
        promptTokens: 0,
        completionTokens: 0,
      };
      for (let from = WRITTEN_BEFORE + 1; from <= LINES; from += STEP) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        await write(from, from + STEP - 1);
        await publishBatchProgress(bus, { ...progress, completed: from + STEP - 1 });
      }
      await database.db.execute(sql`update batches set status = 'completed' where id = ${id}`);
      await publishBatchStatus(bus, { batchId: id, owner: 'local', from: 'finalizing', to: 'completed' });
      const got = await readers.finally(() => clearInterval(sampler));
      const client = process.cpuUsage(ownCpu);
      const seconds = (Date.now() - startedAt) / 1000;
      const peak = peakRssMb(pid);
      console.log(
        `batchResults: ${SUBSCRIBERS} SSE subscribers x ${LINES} lines in ${seconds.toFixed(0)} s; gateway peak RSS (VmHWM) ${baseline.toFixed(0)} MB at start, ${peak.toFixed(0)} MB at the end (RSS now ${rssMb(pid).toFixed(0)} MB); gateway CPU ${cpuSeconds(pid).toFixed(0)} s, this test process's ${((client.user + client.system) / 1e6).toFixed(0)} s; 1-minute load average up to ${maxLoad.toFixed(2)} while they read, ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} after; ${availableParallelism()} CPUs`,
      );
      expect(got.filter((g) => g.events === LINES && g.lastLine === LINES && g.completed)).toHaveLength(SUBSCRIBERS);
      expect(peak).toBeLessThan(MAX_PEAK_RSS_MB);
    } finally {
      await bus.close();
    }
  });
});
