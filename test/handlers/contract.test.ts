import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHandlers } from '../../handlers/index.ts';
import {
  createTestContext,
  HandlerError,
  HandlerOptionsError,
  type HandlerRegistry,
  type HandlerResult,
  type InputObjectSpec,
} from '../../handlers/sdk/index.ts';
import type { Destination, HandlerHarness } from './contract/harness.ts';
import { labelStudioHarness } from './contract/label-studio.ts';
import { postgresInsertHarness } from './contract/postgres-insert.ts';
import { webhookHarness } from './contract/webhook.ts';

// The shared contract every handler of the built-in manifest must meet (like hono's
// router common.case): one harness per handler knows how to start its destination.
const HARNESSES: HandlerHarness[] = [webhookHarness, labelStudioHarness, postgresInsertHarness];
const LARGE = 5000;
/** Results a handler may hold (read but not yet delivered) at any moment. */
const WINDOW = 1000;

const result = (i: number): HandlerResult => ({
  id: `batch_req_${i}`,
  custom_id: `req-${i}`,
  response: {
    status_code: 200,
    request_id: `chatcmpl-${i}`,
    body: { object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: `answer number ${i}` } }] },
  },
  error: null,
  request: { model: 'sim-model', messages: [{ role: 'user', content: `question number ${i}` }] },
  metadata: null,
});

let builtIn: HandlerRegistry;
beforeAll(async () => {
  builtIn = await loadHandlers({ env: {} });
});

it('has a harness for every handler of the built-in manifest', () => {
  expect(HARNESSES.map((h) => h.name).sort()).toEqual(builtIn.handlers.map((h) => h.name).sort());
});

describe.each(HARNESSES)('the $name handler contract', (harness) => {
  let destination: Destination;
  beforeAll(async () => {
    destination = await harness.start();
  });
  afterAll(() => destination?.close());
  const handler = () => builtIn.get(harness.name)!.definition;
  let batchNo = 0;
  const nextBatchId = () => `batch_${harness.name}_${++batchNo}`;

  it('describes every option for GraphQL', () => {
    const describeAll = (spec: InputObjectSpec): string[] =>
      spec.fields.flatMap((f) => [
        ...(f.description ? [] : [`${spec.name}.${f.name}`]),
        ...(f.type.kind === 'object' ? describeAll(f.type) : []),
      ]);
    const installed = builtIn.get(harness.name)!;
    expect(installed.description.length).toBeGreaterThan(20);
    expect(describeAll(installed.input)).toEqual([]);
  });

  it('accepts valid options', () => {
    expect(() => createTestContext(handler(), { options: destination.options, deployment: destination.deployment })).not.toThrow();
  });

  it('refuses invalid options, naming the handler and the option', () => {
    for (const { options, problem } of harness.invalid) {
      let error: unknown;
      try {
        createTestContext(handler(), { options: { ...destination.options, ...options }, deployment: destination.deployment });
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(HandlerOptionsError);
      expect((error as Error).message).toContain(problem);
    }
  });

  it(`streams ${LARGE} results without holding them all`, async () => {
    const batchId = nextBatchId();
    let produced = 0;
    let maxAhead = 0;
    const context = createTestContext(handler(), {
      options: destination.options,
      deployment: destination.deployment,
      batch: { id: batchId },
      results: async function* () {
        for (let i = 1; i <= LARGE; i++) {
          if (i % 250 === 0) maxAhead = Math.max(maxAhead, produced - (await destination.count(batchId)));
          produced++;
          yield result(i);
        }
      },
    });
    await handler().handle(context);
    expect(maxAhead).toBeLessThanOrEqual(WINDOW);
    expect(await destination.count(batchId)).toBe(destination.expected(LARGE));
  });

  it('fails retryably when the destination fails, and a retry completes without duplicates', async () => {
    const batchId = nextBatchId();
    const n = 600;
    const contextFor = (attempt: number, checkpoint: unknown) =>
      createTestContext(handler(), {
        options: destination.options,
        deployment: destination.deployment,
        batch: { id: batchId },
        attempt,
        checkpoint,
        results: function* () {
          for (let i = 1; i <= n; i++) yield result(i);
        },
      });
    await destination.failAfter(harness.name === 'webhook' ? 0 : 1);
    const first = contextFor(1, null);
    const failure = await handler()
      .handle(first)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(failure).toBeInstanceOf(Error);
    expect(failure instanceof HandlerError ? failure.retryable : true).toBe(true);
    await handler().handle(contextFor(2, first.saved.at(-1) ?? null));
    expect(await destination.count(batchId)).toBe(destination.expected(n));
    expect(await destination.duplicates(batchId)).toBe(0);
  });
});
