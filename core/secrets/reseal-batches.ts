import { listBatchHandlers, replaceBatchHandlers, type Executor } from '../../schema/index.ts';
import { resealHandlerOptions, type SecretOptionsOf } from './handler-options.ts';
import { SecretsKeyError, type SecretBox } from './secret-box.ts';

/** What {@link resealBatches} did. */
export interface ResealOutcome {
  /** Batches with handler options looked at. */
  batches: number;
  /** Batches whose options were sealed again (plain secrets, or values sealed with the previous key). */
  resealed: number;
  /** Batches with a value sealed with a key this process does not hold, and why (left as they are). */
  unreadable: { id: string; problem: string }[];
}

/**
 * Seals every stored secret option with the current SECRETS_KEY: plain ones (stored without a
 * key, or by a release before secrets were sealed) and those sealed with SECRETS_KEY_PREVIOUS,
 * so the previous key can be dropped afterwards. A page at a time; a batch whose options change
 * meanwhile is left for the next run, and one with a value sealed with a key this process does
 * not hold is reported in `unreadable`.
 */
export async function resealBatches(
  db: Executor,
  { box, secretOptionsOf, pageSize = 500 }: { box: SecretBox; secretOptionsOf: SecretOptionsOf; pageSize?: number },
): Promise<ResealOutcome> {
  const outcome: ResealOutcome = { batches: 0, resealed: 0, unreadable: [] };
  let afterId = '';
  for (;;) {
    const page = await listBatchHandlers(db, { afterId, limit: pageSize });
    for (const { id, handlers } of page) {
      outcome.batches += 1;
      let next: Record<string, unknown> | null;
      try {
        next = await resealHandlerOptions(box, JSON.parse(handlers) as Record<string, unknown>, secretOptionsOf);
      } catch (error) {
        if (!(error instanceof SecretsKeyError)) throw error;
        outcome.unreadable.push({ id, problem: error.message });
        continue;
      }
      if (next && (await replaceBatchHandlers(db, { id, before: handlers, after: next }))) outcome.resealed += 1;
    }
    if (page.length < pageSize) return outcome;
    afterId = page.at(-1)!.id;
  }
}
