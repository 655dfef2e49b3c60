import { openaiBatchObject } from '../../core/openai-batch.ts';
import type { HandlerBatch } from '../../handlers/sdk/index.ts';
import type { BatchRow } from '../../schema/index.ts';

/** The OpenAI Batch object of a batch row, plus its owner, as handlers receive it. */
export function toHandlerBatch(row: BatchRow): HandlerBatch {
  return { ...openaiBatchObject(row), owner: row.owner };
}
