import type { EventBus } from './bus.ts';
import {
  TOPICS,
  type BatchPausedEvent,
  type BatchProgressEvent,
  type BatchStatusChange,
  type BatchStatusEvent,
  type WorkerEvent,
} from './types.ts';

/** Publishes one status change on the batch's topic and on its owner's topic (`batchEvents`). */
export async function publishBatchStatus(bus: EventBus, { batchId, owner, from, to }: BatchStatusChange): Promise<void> {
  const event: BatchStatusEvent = {
    type: 'batch.status',
    batchId,
    owner,
    status: to,
    previous: from,
    at: Date.now(),
  };
  await Promise.all([bus.publish(TOPICS.batch(batchId), event), bus.publish(TOPICS.ownerBatches(owner), event)]);
}

/** Publishes status changes in order (a settle may return `in_progress → finalizing → completed`). */
export async function publishBatchStatuses(bus: EventBus, changes: readonly BatchStatusChange[]): Promise<void> {
  for (const change of changes) await publishBatchStatus(bus, change);
}

/** Publishes a batch's counters as a result write returned them; `at` defaults to now. */
export function publishBatchProgress(bus: EventBus, progress: Omit<BatchProgressEvent, 'type' | 'at'> & { at?: number }): Promise<void> {
  const event: BatchProgressEvent = { type: 'batch.progress', ...progress, at: progress.at ?? Date.now() };
  return bus.publish(TOPICS.batch(progress.batchId), event);
}

/** Publishes that a batch was paused or resumed, on the batch's topic (`batchProgress`); `at` defaults to now. */
export function publishBatchPaused(bus: EventBus, event: Omit<BatchPausedEvent, 'type' | 'at'> & { at?: number }): Promise<void> {
  return bus.publish(TOPICS.batch(event.batchId), { type: 'batch.paused', ...event, at: event.at ?? Date.now() });
}

/** Publishes an event of the fleet (`workerEvents`); `at` defaults to now. */
export function publishWorkerEvent(bus: EventBus, event: Omit<WorkerEvent, 'at'> & { at?: number }): Promise<void> {
  return bus.publish(TOPICS.workers, { ...event, at: event.at ?? Date.now() });
}
