import type { Logger } from '../../core/logger.ts';
import { expireFiles, purgeRequestData, type Executor } from '../../schema/index.ts';

/**
 * Rounds of each step one sweep runs at most, so that a backlog (the first sweep after an
 * upgrade, or after FILE_RETENTION_DAYS is set) is worked off over several sweeps: up to 400
 * files, and 20 batches of up to 50,000 request rows each, per sweep of each gateway.
 */
const FILE_ROUNDS = 20;
const PURGE_ROUNDS = 4;

/** What one {@link sweepExpiredFiles} removed. */
export interface ExpirySweep {
  /** Files that expired: their bytes are deleted. */
  files: string[];
  /** Batches whose requests' bodies were removed (their input file is gone). */
  bodies: string[];
  /** Batches whose requests' results were removed (their output and error files are gone). */
  results: string[];
}

/**
 * Removes what has expired: first the files past their `expires_at` (their bytes), then what
 * the requests of ended batches store that no file refers to any more (deleted files count as
 * gone too). Run by every gateway's periodic sweep; several at once share the work.
 */
export async function sweepExpiredFiles(db: Executor, logger: Logger): Promise<ExpirySweep> {
  const swept: ExpirySweep = { files: [], bodies: [], results: [] };
  for (let round = 0; round < FILE_ROUNDS; round++) {
    const expired = await expireFiles(db);
    swept.files.push(...expired);
    if (expired.length === 0) break;
  }
  for (let round = 0; round < PURGE_ROUNDS; round++) {
    const purged = await purgeRequestData(db);
    swept.bodies.push(...purged.bodies);
    swept.results.push(...purged.results);
    if (purged.bodies.length === 0 && purged.results.length === 0) break;
  }
  if (swept.files.length > 0) logger.info('expired files removed', { files: swept.files.length });
  if (swept.bodies.length + swept.results.length > 0) {
    logger.info('request data of ended batches removed, no file referring to it', {
      bodies: swept.bodies.length,
      results: swept.results.length,
    });
  }
  return swept;
}
