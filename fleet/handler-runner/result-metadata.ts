import { HandlerError, type HandlerContext } from '../../handlers/sdk/index.ts';
import { setResultMetadata, type Executor } from '../../schema/index.ts';

/**
 * A run's `context.setResultMetadata`: merges a JSON object into the metadata of one result
 * of the batch. A value that is not a JSON object, or a custom_id the batch does not have, is
 * the handler's mistake, which no retry mends: a permanent HandlerError naming it.
 */
export function resultMetadataSetter(db: Executor, batchId: string): HandlerContext['setResultMetadata'] {
  return async (customId, metadata) => {
    const refuse = (problem: string) =>
      new HandlerError(`setResultMetadata(${JSON.stringify(customId)}): ${problem}`, { retryable: false });
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw refuse('metadata must be a JSON object of keys to values');
    }
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>;
    } catch (error) {
      throw refuse(`metadata must be JSON (${(error as Error).message})`);
    }
    if (!(await setResultMetadata(db, { batchId, customId, metadata: value }))) {
      throw refuse(`batch ${batchId} has no request with this custom_id`);
    }
  };
}
