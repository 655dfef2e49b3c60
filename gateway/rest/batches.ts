import { Hono } from 'hono';
import { AppError } from '../../core/errors.ts';
import { batchEstimates, getBatch, listBatches, type BatchRow } from '../../schema/index.ts';
import { parseBatchHandlers } from '../batches/batch-handlers.ts';
import { parseBatchSpec } from '../batches/batch-spec.ts';
import { cancel } from '../batches/cancel.ts';
import { pause, resume } from '../batches/pause.ts';
import { submitBatch } from '../batches/submit-batch.ts';
import { checkBatchCursor } from '../cursors.ts';
import type { AppDeps } from '../app-deps.ts';
import { batchObject, listObject } from './openai-objects.ts';
import { intParam, snakeCase } from './query-params.ts';

/** `/v1/batches`: create, list, retrieve and cancel, in OpenAI's shapes plus this server's extensions (pause, resume). */
export function createBatchRoutes(deps: AppDeps) {
  const { database } = deps;
  const routes = new Hono<{ Variables: { owner: string } }>();
  const present = async (batches: BatchRow[]) => {
    const estimates = await batchEstimates(
      database.db,
      batches.map((b) => b.id),
    );
    return batches.map((b) => batchObject(b, estimates.get(b.id)));
  };

  routes.post('/', async (c) => {
    const body = (await c.req.json().catch(() => {
      throw new AppError('BAD_REQUEST', 'The request body must be a JSON object.');
    })) as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null) throw new AppError('BAD_REQUEST', 'The request body must be a JSON object.');
    const spec = parseBatchSpec(
      {
        inputFileId: body.input_file_id,
        endpoint: body.endpoint,
        completionWindow: body.completion_window,
        metadata: body.metadata,
        priority: body.priority,
        outputExpiresAfter: body.output_expires_after,
        // The error budget, an extension.
        maxFailedRequests: body.max_failed_requests,
        maxFailureRatio: body.max_failure_ratio,
        minRequestsForRatio: body.min_requests_for_ratio,
      },
      snakeCase,
    );
    // `handlers` is an extension of OpenAI's body: result handlers and their options.
    const batch = await submitBatch(deps, c.get('owner'), spec, await parseBatchHandlers(deps, body.handlers));
    const [shown] = await present([batch]);
    return c.json(shown);
  });

  routes.get('/', async (c) => {
    await checkBatchCursor(database, c.get('owner'), c.req.query('after'));
    const page = await listBatches(database.db, {
      owner: c.get('owner'),
      after: c.req.query('after') || undefined,
      limit: intParam(c.req.query('limit'), 'limit', { min: 1, max: 100, fallback: 20 }),
    });
    return c.json(listObject(await present(page.data), page.hasMore));
  });

  routes.get('/:id', async (c) => {
    const batch = await getBatch(database.db, c.req.param('id'), c.get('owner'));
    if (!batch) throw new AppError('NOT_FOUND', `No batch with id ${c.req.param('id')}.`, { param: 'batch_id' });
    const [shown] = await present([batch]);
    return c.json(shown);
  });

  routes.post('/:id/cancel', async (c) => {
    const batch = await cancel(deps, c.get('owner'), c.req.param('id'));
    const [shown] = await present([batch]);
    return c.json(shown);
  });

  // Extensions: a paused batch leases nothing more, and stays in_progress with `paused_at` set.
  for (const [action, run] of [
    ['pause', pause],
    ['resume', resume],
  ] as const) {
    routes.post(`/:id/${action}`, async (c) => {
      const batch = await run(deps, c.get('owner'), c.req.param('id'));
      const [shown] = await present([batch]);
      return c.json(shown);
    });
  }

  return routes;
}
