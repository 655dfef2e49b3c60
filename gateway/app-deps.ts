import type { BatchPausedEvent, BatchStatusChange } from '../core/events/index.ts';
import type { Logger } from '../core/logger.ts';
import type { HandlerRegistry } from '../handlers/sdk/index.ts';
import type { Database } from '../schema/index.ts';
import type { BatchValidator } from './batches/batch-validator.ts';
import type { GatewayConfig } from './config.ts';

/** What the Batch API's operations run with, shared by the REST routes and the GraphQL resolvers. */
export interface AppDeps {
  database: Database;
  logger: Logger;
  config: GatewayConfig;
  validator: BatchValidator;
  /** The installed result handlers, which validate a new batch's `handlers` options. */
  handlers: HandlerRegistry;
  /** Told of every batch status change an operation makes (published on the event bus). */
  statusChanged(changes: BatchStatusChange[]): void;
  /** Told when a batch is paused or resumed (published on the event bus for `batchProgress`). */
  pauseChanged(change: Omit<BatchPausedEvent, 'type' | 'at'>): void;
}
