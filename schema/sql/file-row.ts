import { sql } from 'drizzle-orm';

/**
 * What a file holds: a batch's input, the output or error file of its batch (streamed from its
 * results), or a dataset exported from results (`fine-tune`). Inputs and datasets are stored
 * in chunks, with their size known.
 */
export type FileKind = 'input' | 'output' | 'error' | 'dataset';

/** Whether a file's bytes are stored (in file_chunks) rather than built from results on download. */
export const isStoredFile = (kind: FileKind) => kind === 'input' || kind === 'dataset';

/** A file as the API reads it; times in milliseconds since the epoch. */
export interface FileRow {
  id: string;
  owner: string;
  /** `batch`, `batch_output` (OpenAI's purposes: its error files are `batch_output` too) or `fine-tune` (an exported dataset). */
  purpose: string;
  kind: FileKind;
  filename: string;
  bytes: number;
  lines: number | null;
  batchId: string | null;
  status: string;
  createdAtMs: number;
  /** When the file expires; null when it is kept until deleted. */
  expiresAtMs: number | null;
}

/**
 * The columns of {@link FileRow} (of table `files`), cast so that both drivers return the same
 * types. Error files are stored as `batch_error` (what every release writes, and what a
 * gateway of the previous release reads to serve the error lines); they are shown as OpenAI's
 * `batch_output`. A result file is the error file by that purpose or when its batch names it so.
 */
export const FILE_COLUMNS = sql`files.id, files.owner,
  case when files.purpose = 'batch_error' then 'batch_output' else files.purpose end as "purpose",
  case when files.purpose = 'batch' then 'input' when files.purpose = 'fine-tune' then 'dataset'
    when files.purpose = 'batch_error' or files.id = (select b.error_file_id from batches b where b.id = files.batch_id) then 'error'
    else 'output' end as "kind",
  files.filename, files.bytes::float8 as "bytes", files.lines, files.batch_id as "batchId", files.status,
  (extract(epoch from files.created_at) * 1000)::float8 as "createdAtMs",
  (extract(epoch from files.expires_at) * 1000)::float8 as "expiresAtMs"`;

/** The condition of a file the API serves: complete, not deleted and not expired (the sweeper may not have been by yet). */
export const LIVE_FILE = sql`files.status = 'processed' and (files.expires_at is null or files.expires_at > now())`;

/** The stored purposes a purpose filter of the file list matches (`batch_output` matches the error files, stored as `batch_error`). */
export function storedPurposes(purpose: string): string[] {
  return purpose === 'batch_output' ? ['batch_output', 'batch_error'] : [purpose];
}
