import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { vbs } from '../cli/harness.ts';
import { TEST_REDIS_URL } from '../config.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';
import { readAll, readUntil, sseClient, wsClient } from './harness.ts';
import { uniquePrefix } from './helpers.ts';

const KEY = 'results-test-key';
const OTHER_KEY = 'results-other-key';
const AUTH = `Bearer ${KEY}`;
const LINES = 240;
/** Requests slow enough (32 tokens at 10 ms each, 16 at a time) that the batch runs for seconds, and results arrive while subscribers read. */
const INPUT = Array.from(
  { length: LINES },
  (_, i) =>
    `${JSON.stringify({ custom_id: `row-${i + 1}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'sim-model', max_tokens: 32, messages: [{ role: 'user', content: `line ${i + 1}` }] } })}\n`,
).join('');

const RESULTS = `subscription ($id: ID!, $from: Int) { batchResults(batchId: $id, fromLine: $from) { line customId status file outputLine } }`;

interface ResultLine {
  line: number;
  customId: string;
  status: string;
  file: string;
  outputLine: string;
}
type ResultEvent = { data?: { batchResults: ResultLine }; errors?: { message: string; extensions?: { code?: string } }[] };

const listening = async (process: Running) => (await process.waitFor(/"url":"(http:[^"]+)"/, 30_000))[1]!;
const lines = (events: ResultEvent[]) => events.map((e) => e.data!.batchResults);
const everyLine = Array.from({ length: LINES }, (_, i) => i + 1);

describe('batchResults: a batch results in input order as a real worker writes them, across two gateway replicas', () => {
  const test = useTestDatabase();
  const prefix = uniquePrefix();
  const processes: Running[] = [];
  let a: string;
  let b: string;

  beforeAll(async () => {
    const common = {
      DATABASE_URL: test().url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      LOG_LEVEL: 'info',
      API_KEYS: `${KEY},${OTHER_KEY}`,
    };
    const sim = start(BUN, [
      'fleet/entry/sim.ts',
      '--port',
      '0',
      '--model',
      'sim-model',
      '--slots',
      '16',
      '--ttft-ms',
      '20',
      '--tpot-ms',
      '10',
    ]);
    const gatewayA = start(BUN, ['gateway/entry/bun.ts'], { env: { ...common, PORT: '0' } });
    const gatewayB = start(BUN, ['gateway/entry/bun.ts'], { env: { ...common, PORT: '0' } });
    processes.push(sim, gatewayA, gatewayB);
    const [engineUrl, urlA, urlB] = await Promise.all([listening(sim), listening(gatewayA), listening(gatewayB)]);
    a = urlA;
    b = urlB;
    const worker = start(BUN, ['fleet/entry/worker.ts'], {
      env: { ...common, ENGINE_URL: engineUrl, WORKER_MODEL: 'sim-model', WORKER_ID: `results-${prefix}`, METRICS_PORT: '0' },
    });
    processes.push(worker);
    await worker.waitFor(/"metrics_url":"(http:[^"]+)"/, 30_000);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
  });

  it('sends every line once, in order, over SSE and WebSocket, each as the output file holds it, and completes after the last', {
    timeout: 120_000,
  }, async () => {
    const id = await createBatch(a);
    const ws = wsClient(b, { authorization: AUTH });
    try {
      const [overSse, overWs] = await Promise.all([
        readAll(
          sseClient(a, { authorization: AUTH }).iterate({ query: RESULTS, variables: { id } }) as AsyncIterableIterator<ResultEvent>,
          {
            timeoutMs: 90_000,
          },
        ),
        readAll(ws.iterate({ query: RESULTS, variables: { id } }) as AsyncIterableIterator<ResultEvent>, { timeoutMs: 90_000 }),
      ]);
      for (const events of [overSse, overWs]) {
        expect(events.filter((e) => e.errors)).toEqual([]);
        expect(lines(events).map((r) => r.line)).toEqual(everyLine);
        expect(lines(events).map((r) => r.customId)).toEqual(everyLine.map((n) => `row-${n}`));
      }
      // The subscription ended with the batch, and what it sent is the output file, byte for byte.
      const batch = await getBatch(a, id);
      expect(batch.status).toBe('completed');
      const file = await (await fetch(`${a}/v1/files/${batch.output_file_id}/content`, { headers: { authorization: AUTH } })).text();
      expect(
        lines(overSse)
          .map((r) => `${r.outputLine}\n`)
          .join(''),
      ).toBe(file);
      expect(lines(overWs).every((r) => r.status === 'succeeded' && r.file === 'output')).toBe(true);
    } finally {
      await ws.dispose();
    }
  });

  it('lets a subscriber that dropped on gateway A go on from the next line on gateway B: nothing missed, nothing twice', {
    timeout: 120_000,
  }, async () => {
    const id = await createBatch(a);
    const onA = sseClient(a, { authorization: AUTH }).iterate({ query: RESULTS, variables: { id } }) as AsyncIterableIterator<ResultEvent>;
    const first = await readUntil(onA, (e) => (e.data?.batchResults.line ?? 0) >= 40, 90_000);
    await onA.return?.();
    const next = first.at(-1)!.data!.batchResults.line + 1;
    // Dropped while the batch is still running (it takes seconds), so B sends what was written since, then the rest live.
    const ws = wsClient(b, { authorization: AUTH });
    try {
      const rest = await readAll(ws.iterate({ query: RESULTS, variables: { id, from: next } }) as AsyncIterableIterator<ResultEvent>, {
        timeoutMs: 90_000,
      });
      expect(rest.filter((e) => e.errors)).toEqual([]);
      const seen = [...lines(first), ...lines(rest)].map((r) => r.line);
      expect(seen).toEqual(everyLine);
    } finally {
      await ws.dispose();
    }
    // A subscriber from a line past the end of an ended batch gets nothing and completes.
    const after = await readAll(
      sseClient(b, { authorization: AUTH }).iterate({
        query: RESULTS,
        variables: { id, from: LINES + 1 },
      }) as AsyncIterableIterator<ResultEvent>,
    );
    expect(after).toEqual([]);
  });

  it('sends each line as Batch.results shows it when the subscriber selects result: its request beside the answer', {
    timeout: 120_000,
  }, async () => {
    const id = await createBatch(a);
    const query = `subscription ($id: ID!, $from: Int) { batchResults(batchId: $id, fromLine: $from) {
      line result { line customId status request response annotation { gold } } } }`;
    type Event = {
      data?: { batchResults: { line: number; result: { line: number; customId: string; status: string; request: any; response: any } } };
      errors?: unknown[];
    };
    const events = await readAll(
      sseClient(b, { authorization: AUTH }).iterate({ query, variables: { id, from: LINES - 4 } }) as AsyncIterableIterator<Event>,
      { timeoutMs: 90_000 },
    );
    expect(events.filter((e) => e.errors)).toEqual([]);
    const results = events.map((e) => e.data!.batchResults.result);
    expect(results.map((r) => r.line)).toEqual([LINES - 4, LINES - 3, LINES - 2, LINES - 1, LINES]);
    for (const r of results) {
      expect(r.customId).toBe(`row-${r.line}`);
      expect(r.status).toBe('succeeded');
      expect(r.request.messages).toEqual([{ role: 'user', content: `line ${r.line}` }]);
      expect(r.response.object).toBe('chat.completion');
    }
  });

  it('tells another API key that the batch does not exist, over SSE and WebSocket, and refuses a negative fromLine', {
    timeout: 60_000,
  }, async () => {
    const id = await createBatch(a);
    const sse = await outcome(
      sseClient(b, { authorization: `Bearer ${OTHER_KEY}` }).iterate({
        query: RESULTS,
        variables: { id },
      }) as AsyncIterableIterator<ResultEvent>,
    );
    expect(sse).toMatch(/No batch with id batch_\w+; check the id/);
    expect(sse).not.toContain('row-');
    const ws = wsClient(a, { authorization: `Bearer ${OTHER_KEY}` });
    try {
      const overWs = await outcome(ws.iterate({ query: RESULTS, variables: { id } }) as AsyncIterableIterator<ResultEvent>);
      expect(overWs).toMatch(/No batch with id batch_\w+; check the id/);
      expect(overWs).not.toContain('row-');
    } finally {
      await ws.dispose();
    }
    const negative = await outcome(
      sseClient(a, { authorization: AUTH }).iterate({ query: RESULTS, variables: { id, from: -1 } }) as AsyncIterableIterator<ResultEvent>,
    );
    expect(negative).toMatch(/fromLine must be 0 or a positive line number/);
  });

  it('vbs tail prints the results as JSONL in input order, and after a broken stream goes on from the next line on another gateway', {
    timeout: 120_000,
  }, async () => {
    const id = await createBatch(a);
    // The first subscription goes to gateway A and is cut after 25 results (a replica dying);
    // the reconnection goes to gateway B.
    let subscriptions = 0;
    const fetchCutting = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      if (url.pathname !== '/graphql') return fetch(new URL(url.pathname + url.search, a), init);
      subscriptions += 1;
      if (subscriptions > 1) return fetch(new URL(url.pathname, b), init);
      const response = await fetch(new URL(url.pathname, a), init);
      return new Response(cutAfter(response.body!, 25), { status: response.status, headers: response.headers });
    }) as typeof fetch;
    const run = await vbs(['tail', id, '--api-key', KEY], { fetch: fetchCutting, env: { VBS_URL: a } });
    expect(run.code, run.stderr).toBe(EXIT.OK);
    expect(run.stderr).toMatch(/reconnecting from line 26/);
    expect(subscriptions).toBeGreaterThanOrEqual(2);
    const batch = await getBatch(a, id);
    expect(batch.status).toBe('completed');
    const file = await (await fetch(`${b}/v1/files/${batch.output_file_id}/content`, { headers: { authorization: AUTH } })).text();
    expect(run.stdout).toBe(file);

    const from = await vbs(['tail', id, '--from', '200', '--api-key', KEY], { fetch, env: { VBS_URL: b } });
    expect(from.code, from.stderr).toBe(EXIT.OK);
    expect(
      from.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
    ).toEqual(everyLine.slice(199).map((n) => `row-${n}`));
    const bad = await vbs(['tail', id, '--from', 'x'], { fetch, env: { VBS_URL: b } });
    expect(bad.code).toBe(EXIT.USAGE);
    expect(bad.stderr).toMatch(/--from takes a line number/);
    const other = await vbs(['tail', id, '--api-key', OTHER_KEY], { fetch, env: { VBS_URL: b } });
    expect(other.code).toBe(EXIT.NOT_FOUND);
    expect(other.stderr).toMatch(/No batch with id/);
  });
});

/** What a subscription ended with: its errors' messages, or the text of what it threw. */
async function outcome(iterator: AsyncIterableIterator<ResultEvent>): Promise<string> {
  try {
    const events = await readAll(iterator, { timeoutMs: 20_000 });
    return JSON.stringify(events);
  } catch (err) {
    return err instanceof Error ? err.message : JSON.stringify(err);
  }
}

/** Passes an SSE body through until `events` `next` events went by, then fails it as a cut connection does. */
function cutAfter(body: ReadableStream<Uint8Array>, events: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let seen = 0;
  let text = '';
  let cut = false;
  return new ReadableStream({
    async pull(controller) {
      if (cut) return controller.error(new Error('connection reset'));
      const { value, done } = await reader.read();
      if (done) return controller.close();
      text += decoder.decode(value, { stream: true });
      // Whole events only, so that the cut falls between two of them.
      const parts = text.split('\n\n');
      text = parts.pop()!;
      for (const part of parts) {
        if (part.includes('event: next')) seen += 1;
        controller.enqueue(new TextEncoder().encode(`${part}\n\n`));
        if (seen >= events) {
          // The next read fails: what was sent before is delivered first.
          cut = true;
          await reader.cancel().catch(() => {});
          return;
        }
      }
    },
    cancel: () => reader.cancel(),
  });
}

async function createBatch(url: string): Promise<string> {
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([INPUT]), 'results.jsonl');
  const file = (await (await fetch(`${url}/v1/files`, { method: 'POST', headers: { authorization: AUTH }, body: form })).json()) as {
    id: string;
  };
  const res = await fetch(`${url}/v1/batches`, {
    method: 'POST',
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
  });
  const batch = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(batch)).toBe(200);
  return batch.id;
}

async function getBatch(url: string, id: string) {
  return (await (await fetch(`${url}/v1/batches/${id}`, { headers: { authorization: AUTH } })).json()) as {
    status: string;
    output_file_id: string;
  };
}
