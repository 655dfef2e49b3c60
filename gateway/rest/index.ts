import { Hono } from 'hono';
import { AppError } from '../../core/errors.ts';
import type { AppDeps } from '../app-deps.ts';
import { createBatchRoutes } from './batches.ts';
import { createFileRoutes } from './files.ts';
import { createModelRoutes } from './models.ts';

/** The OpenAI-compatible REST surface, to be mounted at `/v1` behind authentication. */
export function createRestRoutes(deps: AppDeps) {
  return new Hono<{ Variables: { owner: string } }>()
    .route('/files', createFileRoutes(deps))
    .route('/batches', createBatchRoutes(deps))
    .route('/models', createModelRoutes(deps))
    .all('*', (c) => {
      // An OpenAI-shaped 404, so SDKs report it as one.
      throw new AppError(
        'NOT_FOUND',
        `This server has no route ${c.req.method} ${c.req.path}; it serves /v1/files, /v1/batches and /v1/models.`,
      );
    });
}
