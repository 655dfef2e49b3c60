import type { Logger } from '../../core/logger.ts';
import type { Database } from '../../schema/index.ts';

/** What every resolver receives. */
export interface GraphQLContext {
  database: Database;
  /** The owner of the caller's API key (`local` without auth). */
  owner: string;
  logger: Logger;
}
