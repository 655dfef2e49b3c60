import { AppError } from '../../../core/errors.ts';
import type { DatasetFormat } from '../../datasets/dataset-line.ts';
import { exportDataset, MAX_EXPORT_BATCHES } from '../../datasets/export-dataset.ts';
import type { Builder } from '../builder.ts';
import type { defineFile } from './file.ts';

/** A metadata filter must be an object: the results whose metadata contains it are kept. */
function metadataFilter(value: unknown): Record<string, unknown> | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError('BAD_REQUEST', 'metadata must be an object such as {"topic": "billing"}: results whose metadata holds all of it.', {
      param: 'metadata',
    });
  }
  return value as Record<string, unknown>;
}

/** Adds the `DatasetFormat` enum, the `ExportDatasetInput` input and `Mutation.exportDataset`. */
export function defineExportDataset(builder: Builder, { File }: { File: ReturnType<typeof defineFile> }) {
  const DatasetFormatRef = builder.enumType('DatasetFormat', {
    description: 'The shape of each line of a dataset.',
    values: {
      OPENAI_CHAT: {
        value: 'OPENAI_CHAT',
        description: '`{"messages": [...]}`: the request\'s messages, then the assistant\'s answer (the correction when there is one).',
      },
      PROMPT_COMPLETION: {
        value: 'PROMPT_COMPLETION',
        description:
          '`{"prompt", "completion"}`: the prompt (a chat request\'s messages rendered as text), and the answer or its correction.',
      },
    } satisfies Record<DatasetFormat, { value: DatasetFormat; description: string }>,
  });

  const ExportDatasetInputRef = builder.inputType('ExportDatasetInput', {
    description: 'Which results of which batches make a dataset, and its format. Only succeeded results are exported.',
    fields: (t) => ({
      batchIds: t.idList({
        required: true,
        description: `Your batches (at most ${MAX_EXPORT_BATCHES}), /v1/chat/completions, /v1/completions or /v1/responses; exported in this order, each in line order.`,
      }),
      goldOnly: t.boolean({ defaultValue: true, description: 'Only results starred gold (the default); false: every succeeded result.' }),
      minRating: t.int({ description: 'Only results rated at least this (1–5); unrated ones are left out.' }),
      labels: t.stringList({ description: 'Only results whose annotation has at least one of these labels (any of them).' }),
      metadata: t.field({
        type: 'JSON',
        description: 'Only results whose metadata (set by handlers) holds all of this object, e.g. {"topic": "billing"}.',
      }),
      format: t.field({ type: DatasetFormatRef, required: true }),
    }),
  });

  builder.mutationField('exportDataset', (t) =>
    t.field({
      type: File,
      description:
        'Writes a fine-tuning dataset (JSONL) from the succeeded results of your batches into a new file with purpose `fine-tune`; ' +
        'download it with GET /v1/files/{id}/content. A result with a correction is exported with the correction instead of the answer.',
      args: { input: t.arg({ type: ExportDatasetInputRef, required: true }) },
      resolve: (_root, { input }, { deps, owner }) =>
        exportDataset(deps, owner, {
          batchIds: input.batchIds.map(String),
          goldOnly: input.goldOnly ?? true,
          minRating: input.minRating ?? null,
          labels: input.labels ?? null,
          metadata: metadataFilter(input.metadata),
          format: input.format,
        }),
    }),
  );
}
