// In a repository of your own, import the SDK from the vllm-batch-server package instead:
// import { defineHandler, HandlerError, z } from 'vllm-batch-server/handlers/sdk';
import postgres from 'postgres';
import { defineHandler, HandlerError, z } from '../../../../handlers/sdk/index.ts';
import { answerText, promptOf } from '../conversation.ts';
import { applyChange, createGoldTables } from './gold-table.ts';

// Room for the ledger's `_changes` suffix within Postgres's 63 characters.
const TABLE = /^[a-z_][a-z0-9_]{0,54}$/;
const RUN_SEQ = /:annotation:(\d+)$/;

/**
 * Keeps a table of the private database in step with the gold stars of a batch's results:
 * a starred result is upserted (prompt, answer, correction, rating, annotator, metadata), an
 * unstarred one deleted. One run per annotation change; keyed on (batch_id, custom_id).
 */
export default defineHandler({
  name: 'goldStarSync',
  description:
    'Copies each result a reviewer stars (gold) into the gold examples table of the private database, with its prompt, answer, correction, rating, annotator and metadata, and removes it when the star is taken away.',
  options: z.object({
    collection: z
      .string()
      .regex(/^[\w.-]{1,100}$/, { error: 'expected a collection name (letters, digits, _ . -), such as support-faq' })
      .default('default')
      .describe("Which collection of gold examples the batch's starred results join (a column of the table, to pick examples by)."),
  }),
  deploymentOptions: z.object({
    databaseUrl: z
      .url({ protocol: /^postgres(ql)?$/, error: 'expected a Postgres URL (postgres://...)' })
      .describe('The private database.'),
    table: z
      .string()
      .regex(TABLE, { error: 'expected a lowercase table name of at most 55 characters' })
      .default('gold_examples')
      .describe('The table of starred results (created when missing, with its ledger <table>_changes).'),
  }),
  events: ['result.annotated'],
  async handle({ runId, annotation, result, batch, options, deployment, logger, signal }) {
    if (!annotation || !result) throw new HandlerError('goldStarSync runs on result.annotated only', { retryable: false });
    // The change's sequence number orders changes of a result as they were made (updatedAt can
    // tie, or be out of order across concurrent transactions); the run id carries it.
    const seq = Number(RUN_SEQ.exec(runId)?.[1]);
    if (!Number.isSafeInteger(seq)) throw new HandlerError(`run id ${runId} carries no annotation sequence number`, { retryable: false });
    const key = { batch_id: batch.id, custom_id: annotation.customId };
    const row =
      annotation.gold === true
        ? {
            ...key,
            collection: options.collection,
            model: (result.request as { model?: string } | null)?.model ?? batch.model,
            prompt: promptOf(result.request),
            answer: answerText(result),
            correction: annotation.correction,
            rating: annotation.rating,
            labels: annotation.labels,
            note: annotation.note,
            annotator: annotation.annotator,
            metadata: result.metadata,
            annotated_at: annotation.updatedAt,
          }
        : null;

    const db = postgres(deployment.databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
    const stop = () => void db.end({ timeout: 0 });
    signal.addEventListener('abort', stop, { once: true });
    try {
      await createGoldTables(db, deployment.table);
      const outcome = await applyChange(db, deployment.table, seq, key, row);
      logger.info('gold star synced', { customId: key.custom_id, outcome, seq });
      return { outcome, customId: key.custom_id, table: deployment.table };
    } catch (error) {
      // A missing permission will not fix itself; a lost connection or a deadlock will.
      if ((error as { code?: string }).code === '42501')
        throw new HandlerError(`the private database refused: ${(error as Error).message}`, { retryable: false, cause: error });
      throw error;
    } finally {
      signal.removeEventListener('abort', stop);
      await db.end({ timeout: 5 });
    }
  },
});
