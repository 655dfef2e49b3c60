import { AppError } from '../../core/errors.ts';
import { completeFile, deleteFile, type FileRow } from '../../schema/index.ts';
import type { AppDeps } from '../app-deps.ts';
import { retentionSeconds } from './expires-after.ts';
import { storeUpload } from './store-upload.ts';

/** The purposes an upload may have: only batch inputs are accepted. */
export const UPLOAD_PURPOSES = ['batch'] as const;

/** Checks an upload's purpose; anything but `batch` is a BAD_REQUEST. */
export function checkPurpose(purpose: string | null | undefined): void {
  if (purpose === null || purpose === undefined || purpose === '') {
    throw new AppError('BAD_REQUEST', 'purpose is required; set it to "batch".', { param: 'purpose' });
  }
  if (!(UPLOAD_PURPOSES as readonly string[]).includes(purpose)) {
    throw new AppError('BAD_REQUEST', `purpose "${purpose}" is not supported; this server accepts only "batch" files.`, {
      param: 'purpose',
    });
  }
}

/** What {@link uploadFile} stores. */
export interface Upload {
  filename: string;
  purpose: string;
  body: AsyncIterable<Uint8Array>;
  /** Seconds the file lives (a validated `expires_after`); absent, the deployment's FILE_RETENTION_DAYS. */
  expiresAfterSeconds?: number | null;
}

/** Stores a file whose purpose is known before its bytes (GraphQL uploads, inline batches), and returns it. */
export async function uploadFile(deps: AppDeps, owner: string, { filename, purpose, body, expiresAfterSeconds }: Upload): Promise<FileRow> {
  checkPurpose(purpose);
  const { database, config } = deps;
  const stored = await storeUpload(database, body, { owner, filename, purpose, maxBytes: config.MAX_FILE_BYTES });
  const file = await completeFile(database.db, stored.id, {
    ...stored,
    expiresAfterSeconds: expiresAfterSeconds ?? retentionSeconds(config.FILE_RETENTION_DAYS),
  });
  if (!file) {
    await deleteFile(database.db, stored.id, owner);
    throw new Error(`uploadFile: file ${stored.id} vanished before it was complete`);
  }
  return file;
}
