import { Hono } from 'hono';
import { AppError } from '../../core/errors.ts';
import { servedModels, type ServedModel } from '../../schema/index.ts';
import type { AppDeps } from '../app-deps.ts';

/** OpenAI's model object, with vLLM's card fields (`root`, `max_model_len`) where the engine or the registry gave them. */
const modelObject = (model: ServedModel) => ({
  id: model.name,
  object: 'model' as const,
  created: Math.floor(model.createdAtMs / 1000),
  owned_by: 'vllm-batch-server',
  ...(model.root !== null && { root: model.root }),
  ...(model.maxModelLen !== null && { max_model_len: model.maxModelLen }),
});

/** `/v1/models`: the models a batch can name (the enabled registry, and every model live workers' engines serve). */
export function createModelRoutes({ database }: AppDeps) {
  const routes = new Hono<{ Variables: { owner: string } }>();
  routes.get('/', async (c) => c.json({ object: 'list' as const, data: (await servedModels(database.db)).map(modelObject) }));
  routes.get('/:id{.+}', async (c) => {
    const model = (await servedModels(database.db)).find((m) => m.name === c.req.param('id'));
    if (!model) throw new AppError('NOT_FOUND', `No model named ${c.req.param('id')} is registered or loaded.`, { param: 'model' });
    return c.json(modelObject(model));
  });
  return routes;
}
