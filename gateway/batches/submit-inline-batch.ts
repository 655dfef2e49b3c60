import { AppError } from '../../core/errors.ts';
import type { BatchRow } from '../../schema/index.ts';
import { uploadFile } from '../files/upload.ts';
import type { AppDeps } from '../app-deps.ts';
import type { BatchSpec } from './batch-spec.ts';
import { submitBatch } from './submit-batch.ts';

/** The most requests a batch given inline (in the GraphQL mutation) may hold; larger ones are uploaded as files. */
export const MAX_INLINE_REQUESTS = 1000;

/** One request given inline; `method` and `url` default to POST and the batch's endpoint. */
export interface InlineRequest {
  customId: string;
  method?: string | null | undefined;
  url?: string | null | undefined;
  body?: unknown;
}

/**
 * Creates a batch from requests given inline: they are written as a JSONL input file (so
 * the batch has an `input_file_id` like any other) and validated the same way.
 */
export async function submitInlineBatch(
  deps: AppDeps,
  owner: string,
  spec: Omit<BatchSpec, 'inputFileId'>,
  requests: readonly InlineRequest[],
  handlers: Record<string, unknown> = {},
): Promise<BatchRow> {
  if (requests.length === 0) throw new AppError('BAD_REQUEST', 'Give at least one request, or an input file id.', { param: 'requests' });
  if (requests.length > MAX_INLINE_REQUESTS) {
    throw new AppError('BAD_REQUEST', `At most ${MAX_INLINE_REQUESTS} requests can be given inline; upload a file for larger batches.`, {
      param: 'requests',
    });
  }
  let text: string;
  try {
    text = requests
      .map((r) => JSON.stringify({ custom_id: r.customId, method: r.method ?? 'POST', url: r.url ?? spec.endpoint, body: r.body }))
      .join('\n');
  } catch (error) {
    // JSON.stringify recurses: a body nested some thousands deep overflows the stack.
    if (!(error instanceof RangeError)) throw error;
    throw new AppError('BAD_REQUEST', 'A request body nests too deep to be written as a line of a batch file; flatten it.', {
      param: 'requests',
      cause: error,
    });
  }
  const body = (async function* () {
    yield new TextEncoder().encode(`${text}\n`);
  })();
  const file = await uploadFile(deps, owner, { filename: 'inline-requests.jsonl', purpose: 'batch', body });
  return submitBatch(deps, owner, { ...spec, inputFileId: file.id }, handlers);
}
