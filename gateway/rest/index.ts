import { Hono } from 'hono';
import type { Services } from '../services.ts';
import { createBatchRoutes } from './batches.ts';
import { createFileRoutes } from './files.ts';
import { createModelRoutes } from './models.ts';

/** The OpenAI-compatible REST surface, to be mounted at `/v1` behind authentication. */
export function createRestRoutes(services: Services) {
  return new Hono<{ Variables: { owner: string } }>()
    .route('/files', createFileRoutes(services))
    .route('/batches', createBatchRoutes(services))
    .route('/models', createModelRoutes(services));
}
