import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';
import { useApi } from './harness.ts';

const line = (customId: string, body: Record<string, unknown>) =>
  JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/responses', body: { model: 'sim-model', ...body } });

describe('validating /v1/responses batch lines', () => {
  const api = useApi();

  it('fails lines without input, in background mode or with a prompt template, naming line, field and what to do', async () => {
    const client = api().client();
    const text = [
      line('ok', { input: 'hi' }),
      line('a', {}),
      line('b', { input: 'x', background: true }),
      line('c', { input: 'x', prompt: { id: 'pmpt_1' } }),
      line('d', { input: 7 }),
    ].join('\n');
    const file = await client.files.create({ file: await toFile(Buffer.from(text), 'input.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/responses', completion_window: '24h' });
    expect(created.endpoint).toBe('/v1/responses');
    await api().validated();
    const batch = await client.batches.retrieve(created.id);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data).toEqual([
      {
        line: 2,
        code: 'missing_input',
        param: 'body.input',
        message: 'Line 2: body.input is missing; a /v1/responses request needs its input: a string, or a list of input items.',
      },
      {
        line: 3,
        code: 'background_not_allowed',
        param: 'body.background',
        message: expect.stringMatching(/^Line 3: body.background is true; .*remove it\.$/),
      },
      {
        line: 4,
        code: 'prompt_not_supported',
        param: 'body.prompt',
        message: expect.stringMatching(/^Line 4: body.prompt .*body.input instead\.$/),
      },
      { line: 5, code: 'missing_input', param: 'body.input', message: expect.stringContaining('Line 5: body.input is 7;') },
    ]);
  });
});

const URL_LINE = /"msg":"(?:gateway|simulated vLLM engine) listening[^\n]*?"url":"(http:[^"]+)"/;

describe('a /v1/responses batch end to end through the gateway, a worker and the simulator', () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  let client: OpenAI;

  beforeAll(async () => {
    const shared = { DATABASE_URL: test().url, LOG_LEVEL: 'info' };
    const sim = start(BUN, [
      'fleet/entry/sim.ts',
      '--port',
      '0',
      '--model',
      'sim-model',
      '--slots',
      '16',
      '--ttft-ms',
      '2',
      '--tpot-ms',
      '1',
    ]);
    processes.push(sim);
    const [, engineUrl] = (await sim.waitFor(URL_LINE)) as unknown as [string, string];
    const gateway = start(BUN, ['gateway/entry/bun.ts'], { env: { ...shared, PORT: '0', API_KEYS: 'sdk-key' } });
    processes.push(gateway);
    const [, gatewayUrl] = (await gateway.waitFor(URL_LINE, 30_000)) as unknown as [string, string];
    const worker = start(BUN, ['fleet/entry/worker.ts'], { env: { ...shared, ENGINE_URL: engineUrl } });
    processes.push(worker);
    await worker.waitFor(/"msg":"worker ready"/, 30_000);
    client = new OpenAI({ apiKey: 'sdk-key', baseURL: `${gatewayUrl}/v1`, maxRetries: 0 });
  });

  afterAll(async () => {
    await Promise.all(processes.reverse().map((p) => p.stop()));
  });

  it('writes each response object as its line body, in input order, with its tokens counted on the batch', async () => {
    const lines = [
      line('r1', { input: 'Write a haiku about batches.', max_output_tokens: 12 }),
      line('r2', { input: [{ role: 'user', content: 'Name three colours.' }], instructions: 'Answer briefly.', metadata: { run: '7' } }),
      line('r3', { input: 'x', max_output_tokens: 100_000 }),
    ];
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'responses.jsonl'), purpose: 'batch' });
    let batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/responses', completion_window: '24h' });
    const deadline = Date.now() + 60_000;
    while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      batch = await client.batches.retrieve(batch.id);
    }
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    const output = (await (await client.files.content(batch.output_file_id as string)).text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(output.map((l) => l.custom_id)).toEqual(['r1', 'r2']);
    let input = 0;
    let generated = 0;
    for (const resultLine of output) {
      expect(resultLine).toMatchObject({ error: null, response: { status_code: 200 } });
      const body = resultLine.response.body as OpenAI.Responses.Response;
      expect(body.object).toBe('response');
      expect(resultLine.response.request_id).toBe(body.id);
      expect(body.id).toMatch(/^resp_/);
      expect(body.model).toBe('sim-model');
      const message = body.output[0] as OpenAI.Responses.ResponseOutputMessage;
      expect(message.type).toBe('message');
      expect(message.role).toBe('assistant');
      const part = message.content[0] as OpenAI.Responses.ResponseOutputText;
      expect(part.type).toBe('output_text');
      expect(part.text.length).toBeGreaterThan(0);
      expect(body.usage?.output_tokens).toBeGreaterThan(0);
      input += body.usage?.input_tokens ?? 0;
      generated += body.usage?.output_tokens ?? 0;
    }
    expect((output[0].response.body as OpenAI.Responses.Response).usage?.output_tokens).toBeLessThanOrEqual(12);
    expect(output[1].response.body).toMatchObject({ instructions: 'Answer briefly.', metadata: { run: '7' } });
    expect(batch.usage).toMatchObject({ input_tokens: input, output_tokens: generated });
    const errors = (await (await client.files.content(batch.error_file_id as string)).text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ custom_id: 'r3', response: { status_code: 400, body: { error: { param: 'max_output_tokens' } } } });
  });
});
