import { AppError } from '../../../core/errors.ts';
import { listModels, registerModel, removeModel, updateModel, type ModelRow } from '../../../schema/index.ts';
import { MAX_MODEL_LENGTH } from '../../batches/validate-line.ts';
import type { Builder } from '../builder.ts';
import type { defineRegisterModelInput } from './register-model-input.ts';
import type { defineUpdateModelInput } from './update-model-input.ts';

/** The refs the model mutations take. */
export interface ModelRefs {
  RegisterModelInput: ReturnType<typeof defineRegisterModelInput>;
  UpdateModelInput: ReturnType<typeof defineUpdateModelInput>;
}

const orNot = <T>(value: T | null | undefined) => (value === null ? undefined : value);

/**
 * The registry decides what the GPUs run, and its engine arguments reach `vllm serve`
 * (`--trust-remote-code` runs a model repository's code): only administrators change it.
 */
function requireAdmin(admin: boolean): void {
  if (admin) return;
  throw new AppError(
    'FORBIDDEN',
    'Changing the model registry needs an administrator key (one of ADMIN_API_KEYS): the registry decides what the GPUs run. This key may submit and manage batches and read the registry.',
    { reason: 'admin_key_required' },
  );
}

/** Adds the `Model` type, `Query.models` and `Mutation.registerModel` / `updateModel` / `removeModel`; returns the type's ref. */
export function defineModel(builder: Builder, refs: ModelRefs) {
  const ModelRef = builder.objectRef<ModelRow>('Model').implement({
    description: 'A model of the registry: what the fleet may serve, and how to start it.',
    fields: (t) => ({
      name: t.exposeString('name', { description: 'The name requests give as `model`.' }),
      source: t.exposeString('source'),
      engineArgs: t.exposeStringList('engineArgs'),
      maxConcurrency: t.exposeInt('maxConcurrency', { nullable: true }),
      enabled: t.exposeBoolean('enabled'),
      createdAt: t.field({ type: 'DateTime', resolve: (model) => new Date(model.createdAtMs) }),
      updatedAt: t.field({ type: 'DateTime', resolve: (model) => new Date(model.updatedAtMs) }),
    }),
  });

  builder.queryField('models', (t) =>
    t.field({
      type: [ModelRef],
      description: 'The model registry, by name.',
      args: { enabledOnly: t.arg.boolean({ required: true, defaultValue: false }) },
      resolve: (_root, { enabledOnly }, { database }) => listModels(database.db, { enabledOnly }),
    }),
  );

  builder.mutationField('registerModel', (t) =>
    t.field({
      type: ModelRef,
      args: { input: t.arg({ type: refs.RegisterModelInput, required: true }) },
      resolve: async (_root, { input }, { database, admin }) => {
        requireAdmin(admin);
        if (!input.name.trim()) throw new AppError('BAD_REQUEST', 'A model needs a name.', { param: 'name' });
        if (input.name.length > MAX_MODEL_LENGTH) {
          throw new AppError('BAD_REQUEST', `A model name is at most ${MAX_MODEL_LENGTH} characters, the most a batch request may name.`, {
            param: 'name',
          });
        }
        const model = await registerModel(database.db, { ...input, maxConcurrency: input.maxConcurrency ?? null });
        if (!model)
          throw new AppError('CONFLICT', `A model named ${input.name} is already registered; change it with updateModel.`, {
            param: 'name',
          });
        return model;
      },
    }),
  );

  builder.mutationField('updateModel', (t) =>
    t.field({
      type: ModelRef,
      args: { name: t.arg.string({ required: true }), input: t.arg({ type: refs.UpdateModelInput, required: true }) },
      resolve: async (_root, { name, input }, { database, admin }) => {
        requireAdmin(admin);
        const model = await updateModel(database.db, name, {
          source: orNot(input.source),
          engineArgs: orNot(input.engineArgs),
          maxConcurrency: input.maxConcurrency,
          enabled: orNot(input.enabled),
        });
        if (!model) throw new AppError('NOT_FOUND', `No model named ${name} is registered.`, { param: 'name' });
        return model;
      },
    }),
  );

  builder.mutationField('removeModel', (t) =>
    t.boolean({
      description: 'Removes a model from the registry (its queued requests stay queued); false when there was none.',
      args: { name: t.arg.string({ required: true }) },
      resolve: (_root, { name }, { database, admin }) => {
        requireAdmin(admin);
        return removeModel(database.db, name);
      },
    }),
  );

  return ModelRef;
}
