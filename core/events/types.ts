import type { AnnotationRow } from '../../schema/sql/record-annotation.ts';
import type { BatchStatus } from '../../schema/states/batch-status.ts';

/** Declared with the batch state machine in schema/states/ (core may import schema/). */
export type { BatchStatus, BatchStatusChange } from '../../schema/states/batch-status.ts';

/** The counters of a batch at one moment, as published by whoever changed them. */
export interface BatchProgressEvent {
  type: 'batch.progress';
  batchId: string;
  owner: string;
  status: BatchStatus;
  total: number;
  completed: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  /** Milliseconds since the epoch when the counters were read. */
  at: number;
}

/** A batch was created or changed status. */
export interface BatchStatusEvent {
  type: 'batch.status';
  batchId: string;
  owner: string;
  status: BatchStatus;
  previous: BatchStatus | null;
  at: number;
}

/** A batch was paused or resumed by its owner; its status did not change. */
export interface BatchPausedEvent {
  type: 'batch.paused';
  batchId: string;
  owner: string;
  /** When it was paused (milliseconds since the epoch), or null: it was resumed. */
  pausedAt: number | null;
  at: number;
}

/** Something happened to a worker of the fleet. */
export interface WorkerEvent {
  type: 'worker.up' | 'worker.down' | 'worker.model_switch' | 'worker.heartbeat_lost';
  workerId: string;
  host: string;
  gpu: string;
  model: string | null;
  previousModel?: string | null;
  at: number;
}

/** A result's annotation changed (from the API, the dashboard or Label Studio): live for every viewer of the batch. */
export interface ResultAnnotatedEvent {
  type: 'result.annotated';
  batchId: string;
  owner: string;
  /** The annotation as the change left it: schema/sql/record-annotation.ts's AnnotationRow. */
  annotation: AnnotationRow;
  at: number;
}

/** Anything published on the bus. */
export type BusEvent = BatchProgressEvent | BatchStatusEvent | BatchPausedEvent | WorkerEvent | ResultAnnotatedEvent;

/** The topics events are published on. */
export const TOPICS = {
  /** Progress and status changes of one batch. */
  batch: (batchId: string) => `batch:${batchId}`,
  /** Status changes (created, status, finished) of every batch of one owner. */
  ownerBatches: (owner: string) => `owner:${owner}:batches`,
  /** Annotation changes of one batch's results. */
  annotations: (batchId: string) => `batch:${batchId}:annotations`,
  /** Worker up/down, model switches, lost heartbeats. */
  workers: 'workers',
} as const;
