import { AppError } from '../../core/errors.ts';
import { completeFile, datasetBatches, datasetRowsPage, deleteFile, type DatasetFilter, type FileRow } from '../../schema/index.ts';
import type { AppDeps } from '../app-deps.ts';
import { encoded } from '../files/file-content.ts';
import { retentionSeconds } from '../files/expires-after.ts';
import { storeUpload } from '../files/store-upload.ts';
import { DATASET_ENDPOINTS, datasetLine, type DatasetFormat } from './dataset-line.ts';

/** The most batches one export may name. */
export const MAX_EXPORT_BATCHES = 100;

/** Rows read per query, as the result files' downloads read them (output-lines.ts): memory holds one page, whatever the dataset's size. */
const PAGE_ROWS = 500;

/** What {@link exportDataset} is asked for. */
export interface ExportDatasetInput extends DatasetFilter {
  batchIds: readonly string[];
  format: DatasetFormat;
}

interface ExportSource {
  batchId: string;
  endpoint: string;
}

/** Checks the input and returns the batches in the order given (once each), with their endpoints. */
async function exportSources(deps: AppDeps, owner: string, input: ExportDatasetInput): Promise<ExportSource[]> {
  const ids = [...new Set(input.batchIds)];
  if (ids.length === 0) throw new AppError('BAD_REQUEST', 'batchIds is empty; name at least one of your batches.', { param: 'batchIds' });
  if (ids.length > MAX_EXPORT_BATCHES) {
    throw new AppError('BAD_REQUEST', `batchIds names ${ids.length} batches; export at most ${MAX_EXPORT_BATCHES} at a time.`, {
      param: 'batchIds',
    });
  }
  if (input.minRating != null && !(Number.isInteger(input.minRating) && input.minRating >= 1 && input.minRating <= 5)) {
    throw new AppError('BAD_REQUEST', `minRating must be a whole number from 1 to 5 (ratings are 1–5); got ${input.minRating}.`, {
      param: 'minRating',
    });
  }
  const found = new Map((await datasetBatches(deps.database.db, owner, ids)).map((b) => [b.id, b]));
  return ids.map((batchId) => {
    const batch = found.get(batchId);
    if (batch === undefined) throw new AppError('NOT_FOUND', `No batch with id ${batchId}.`, { param: 'batchIds' });
    const { endpoint } = batch;
    if (!(DATASET_ENDPOINTS as readonly string[]).includes(endpoint)) {
      throw new AppError(
        'BAD_REQUEST',
        `Batch ${batchId} is a ${endpoint} batch; datasets are made of ${DATASET_ENDPOINTS.join(', ')} batches (a prompt and a text answer). Leave it out of batchIds.`,
        { param: 'batchIds' },
      );
    }
    if (batch.bodiesPurged || batch.resultsPurged) {
      throw new AppError(
        'CONFLICT',
        `Batch ${batchId} can no longer be exported: its ${batch.bodiesPurged ? 'requests were' : 'answers were'} removed when its ${batch.bodiesPurged ? 'input file' : 'output file'} expired or was deleted (FILE_RETENTION_DAYS, expires_after). Leave it out of batchIds.`,
        { param: 'batchIds' },
      );
    }
    return { batchId, endpoint };
  });
}

/** The dataset's lines, batch after batch in the order given and by line within each, read a page at a time. */
async function* datasetLines(deps: AppDeps, sources: ExportSource[], input: ExportDatasetInput): AsyncGenerator<string> {
  for (const source of sources) {
    for (let after = 0; ; ) {
      const page = await datasetRowsPage(deps.database.db, source.batchId, input, after, PAGE_ROWS);
      for (const row of page) yield datasetLine(input.format, source, row);
      const last = page.at(-1);
      if (!last || page.length < PAGE_ROWS) break;
      after = last.line;
    }
  }
}

/**
 * Writes a fine-tuning dataset from the succeeded results of the owner's batches into a new
 * file (purpose `fine-tune`, served by /v1/files like any other). The lines stream from
 * Postgres into the file's chunks, so memory stays bounded whatever the size. The file stays
 * `uploaded`, invisible to every list and download, until the last line is stored; a failure
 * deletes it, and a gateway that dies midway leaves it to the sweep of abandoned uploads.
 */
export async function exportDataset(deps: AppDeps, owner: string, input: ExportDatasetInput): Promise<FileRow> {
  const sources = await exportSources(deps, owner, input);
  const { database, config } = deps;
  const filename = `dataset-${new Date().toISOString().slice(0, 10)}.jsonl`;
  let stored: Awaited<ReturnType<typeof storeUpload>>;
  try {
    stored = await storeUpload(database, encoded(datasetLines(deps, sources, input)), {
      owner,
      filename,
      purpose: 'fine-tune',
      maxBytes: config.MAX_FILE_BYTES,
    });
  } catch (error) {
    if (error instanceof AppError && error.code === 'PAYLOAD_TOO_LARGE') {
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `The dataset is larger than ${config.MAX_FILE_BYTES} bytes (MAX_FILE_BYTES); export fewer batches at a time, or narrow it with goldOnly, minRating or labels.`,
        { param: 'batchIds' },
      );
    }
    throw error;
  }
  const file = await completeFile(database.db, stored.id, { ...stored, expiresAfterSeconds: retentionSeconds(config.FILE_RETENTION_DAYS) });
  if (!file) {
    await deleteFile(database.db, stored.id, owner);
    throw new Error(`exportDataset: file ${stored.id} vanished before it was complete`);
  }
  return file;
}
