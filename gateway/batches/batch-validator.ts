import type { BatchStatusChange } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import { createPeriodic } from '../../core/loop.ts';
import {
  claimValidations,
  deleteAbandonedUploads,
  extendValidation,
  failBatch,
  getFile,
  ingestBatch,
  newId,
  QUEUE_CHANNEL,
  readFileChunks,
  readFileText,
  settleBatch,
  type Database,
  type FilePiece,
  type ValidationJob,
} from '../../schema/index.ts';
import { sweepExpiredFiles } from '../files/sweep-expired.ts';
import { COPY_PAGE_SIZE, InvalidInput, PAGE_SIZE, validateInput } from './validate-input.ts';

/** How long a validation lease lasts; it is extended every third of it while validation runs. */
export const VALIDATION_LEASE_SECONDS = 60;
/** How often a gateway looks for validations whose validator died, abandoned uploads and expired files. */
export const VALIDATION_SWEEP_MS = 30_000;
/**
 * Validations started for one batch before it is failed: an error that is neither a bad line
 * nor a lost lease (a gateway that keeps crashing on it, a database refusal) must not be
 * retried every sweep for ever, leaving the batch validating.
 */
export const MAX_VALIDATION_ATTEMPTS = 3;

/** An upload not completed after this long was abandoned by a crashed gateway. */
export const ABANDONED_UPLOAD_SECONDS = 6 * 3600;

/**
 * Chunks (256 KiB each) read ahead of the one being validated, on Postgres: the reads run on
 * other pool connections while the gateway parses, so that neither waits for the other.
 */
export const READ_AHEAD_CHUNKS = 2;

/**
 * Validations run at once by one validator; the others wait their turn. On Postgres a
 * validation holds a pool connection for its COPY transaction and reads the file on others:
 * as many validations as the pool has connections (10) would hold every one and wait for ever
 * for a read. Validation is mostly the gateway's CPU, so two at a time lose nothing.
 */
export const VALIDATION_CONCURRENCY = 2;

async function* bytesOf(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<FilePiece> {
  for await (const data of chunks) yield { data, bytes: data.length };
}

/** Options for {@link createBatchValidator}. */
export interface BatchValidatorOptions {
  database: Database;
  logger: Logger;
  maxRequests: number;
  /** This validator's lease owner name; unique per gateway process. */
  id?: string;
  leaseSeconds?: number;
  sweepIntervalMs?: number;
  /** Validations run at once (default {@link VALIDATION_CONCURRENCY}); keep it below the database pool's size. */
  concurrency?: number;
  /** Told of every status change a validation makes (to publish them on the event bus). */
  onStatusChange?: (changes: BatchStatusChange[]) => void;
}

/** Validates and ingests batch input files in the background, under a lease that survives a crash. */
export interface BatchValidator {
  readonly id: string;
  /** Starts validating a batch whose validation lease this validator holds. */
  validate(job: ValidationJob): void;
  /** Claims and validates the batches whose validator's lease expired; removes abandoned uploads. */
  sweep(): Promise<void>;
  /** Sweeps now and then every `sweepIntervalMs`, until {@link close}. */
  startSweeping(): void;
  /** Resolves once no validation is running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Creates the gateway's batch validator. */
export function createBatchValidator({
  database,
  logger,
  maxRequests,
  id = newId('validator_', 12),
  leaseSeconds = VALIDATION_LEASE_SECONDS,
  sweepIntervalMs = VALIDATION_SWEEP_MS,
  concurrency = VALIDATION_CONCURRENCY,
  onStatusChange = () => {},
}: BatchValidatorOptions): BatchValidator {
  const { db } = database;
  // Validations running or waiting for a turn, by batch id.
  const running = new Map<string, Promise<void>>();
  let active = 0;
  const turns: (() => void)[] = [];
  const takeTurn = (): Promise<void> => {
    if (active < concurrency) {
      active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => turns.push(resolve));
  };
  // The turn passes to the next waiting validation, or is given up.
  const endTurn = () => {
    const next = turns.shift();
    if (next) next();
    else active--;
  };
  const sweeper = createPeriodic(sweep, sweepIntervalMs, (err) => logger.error('validation sweep failed', { err }));

  async function fail(job: ValidationJob, errors: InvalidInput['errors']) {
    if (await failBatch(db, job.id, errors)) onStatusChange([{ batchId: job.id, owner: job.owner, from: 'validating', to: 'failed' }]);
    else onStatusChange(await settleBatch(db, job.id));
  }

  async function run(job: ValidationJob) {
    if (job.attempts > MAX_VALIDATION_ATTEMPTS) {
      logger.error('batch validation failed too many times; the batch is failed', { batch_id: job.id, attempts: job.attempts - 1 });
      const message = `Validating this batch failed ${job.attempts - 1} times with an unexpected error (it is in the gateway's log); create the batch again, and report it if it fails the same way.`;
      return fail(job, [{ line: null, code: 'validation_error', param: null, message }]);
    }
    const file = await getFile(db, job.inputFileId, job.owner);
    const missing = {
      line: null,
      code: 'input_file_missing',
      param: 'input_file_id',
      message: `The input file ${job.inputFileId} no longer exists; upload it again and create a new batch.`,
    };
    if (!file) return fail(job, [missing]);
    try {
      const outcome = await ingestBatch(database, { batchId: job.id, validationOwner: id, priority: job.priority }, (reader, pooled) => {
        // From the pool (Postgres), the file is read ahead on other connections, and as text where it is UTF-8.
        const pieces = pooled
          ? readFileText(reader, file!.id, { readAhead: READ_AHEAD_CHUNKS })
          : bytesOf(readFileChunks(reader, file!.id));
        async function* counted() {
          let bytes = 0;
          for await (const piece of pieces) {
            bytes += piece.bytes;
            yield piece.data;
          }
          // Chunks vanish when the file is deleted while it is being read.
          if (bytes !== file!.bytes) throw new InvalidInput([missing]);
        }
        return validateInput(counted(), { endpoint: job.endpoint, maxRequests, pageSize: pooled ? COPY_PAGE_SIZE : PAGE_SIZE });
      });
      if (outcome.kind === 'lost') return onStatusChange(await settleBatch(db, job.id));
      for (const model of outcome.models) await database.notify(QUEUE_CHANNEL, model);
      logger.info('batch validated', { batch_id: job.id, requests: outcome.total, models: outcome.models });
      onStatusChange([{ batchId: job.id, owner: job.owner, from: 'validating', to: 'in_progress' }]);
    } catch (error) {
      if (!(error instanceof InvalidInput)) throw error;
      logger.info('batch input is invalid', { batch_id: job.id, errors: error.errors.length });
      await fail(job, error.errors);
    }
  }

  function validate(job: ValidationJob) {
    if (running.has(job.id)) return;
    // The lease is held from now, while the validation waits for its turn too.
    const extend = createPeriodic(
      async () => void (await extendValidation(db, job.id, id, leaseSeconds)),
      (leaseSeconds * 1000) / 3,
      (err) => logger.warn('could not extend a validation lease', { batch_id: job.id, err }),
    );
    extend.start();
    const done = takeTurn()
      .then(() => run(job).finally(endTurn))
      // The lease is left to expire, so that a later sweep (here or on another gateway) tries again.
      .catch((err) => logger.error('batch validation failed unexpectedly; it will be retried', { batch_id: job.id, err }))
      .finally(() => {
        extend.stop();
        running.delete(job.id);
      });
    running.set(job.id, done);
  }

  async function sweep() {
    for (const job of await claimValidations(db, id, leaseSeconds)) validate(job);
    const removed = await deleteAbandonedUploads(db, ABANDONED_UPLOAD_SECONDS);
    if (removed > 0) logger.info('removed abandoned uploads', { files: removed });
    await sweepExpiredFiles(db, logger);
  }

  return {
    id,
    validate,
    sweep,
    startSweeping() {
      void sweeper.run();
      sweeper.start();
    },
    async idle() {
      while (running.size > 0) await Promise.all(running.values());
    },
    async close() {
      sweeper.stop();
      await Promise.all(running.values());
    },
  };
}
