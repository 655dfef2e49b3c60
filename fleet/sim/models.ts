import type { SimOptions } from './options.ts';

const randomHex = () => crypto.randomUUID().replace(/-/g, '');

/**
 * /v1/models as vLLM writes it (entrypoints/openai/models/serving.py show_available_models,
 * engine/protocol.py ModelCard and ModelPermission, fields in their order): one card per served
 * name, `root` the source path, the engine's max_model_len, one permission entry.
 */
export function modelList(options: SimOptions) {
  const created = Math.floor(Date.now() / 1000);
  return {
    object: 'list',
    data: options.models.map((id) => ({
      id,
      object: 'model',
      created,
      owned_by: 'vllm',
      root: options.source ?? options.models[0] ?? id,
      parent: null,
      max_model_len: options.maxModelLen,
      permission: [
        {
          id: `modelperm-${randomHex()}`,
          object: 'model_permission',
          created,
          allow_create_engine: false,
          allow_sampling: true,
          allow_logprobs: true,
          allow_search_indices: false,
          allow_view: true,
          allow_fine_tuning: false,
          organization: '*',
          group: null,
          is_blocking: false,
        },
      ],
    })),
  };
}
