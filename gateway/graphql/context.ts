import type { EventBus } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import type { Database } from '../../schema/index.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { AppDeps } from '../app-deps.ts';
import type { ProgressHub } from '../subscriptions/progress-hub.ts';
import type { ResultsHub } from '../subscriptions/results-hub.ts';

/** What every resolver receives. */
export interface GraphQLContext {
  database: Database;
  /** The owner of the caller's API key (`local` without auth). */
  owner: string;
  /** Whether the caller may change the model registry: an ADMIN_API_KEYS key, or anybody on a gateway without keys. */
  admin: boolean;
  logger: Logger;
  /** The event bus: subscriptions listen on it, mutations publish status changes on it. */
  bus: EventBus;
  /** The per-batch fan-out behind `batchProgress`. */
  progress: ProgressHub;
  /** The per-batch page reads behind `batchResults`. */
  results: ResultsHub;
  metrics: GatewayMetrics;
  /** What the Batch API's operations run with (the same as the REST routes'). */
  deps: AppDeps;
}
