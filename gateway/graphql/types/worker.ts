import { listWorkers, type WorkerRow } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';
import type { defineGpuStats } from './gpu-stats.ts';

/** Adds the `Worker` type and `Query.workers` (read-only); returns the type's ref. */
export function defineWorker(builder: Builder, GpuStats: ReturnType<typeof defineGpuStats>) {
  const WorkerRef = builder.objectRef<WorkerRow>('Worker').implement({
    description: 'A worker process of the fleet: one per GPU.',
    fields: (t) => ({
      id: t.exposeID('id'),
      host: t.exposeString('host'),
      gpu: t.exposeString('gpu'),
      pid: t.exposeInt('pid'),
      runtime: t.exposeString('runtime', { description: 'bun, node or deno.' }),
      model: t.exposeString('model', { nullable: true, description: 'The model loaded now.' }),
      engineUrl: t.exposeString('engineUrl'),
      status: t.exposeString('status', { description: 'starting, ready, switching, draining, stopped or lost.' }),
      capacity: t.exposeInt('capacity', { description: 'Requests the engine can run at once.' }),
      inFlight: t.exposeInt('inFlight'),
      completed: t.exposeFloat('completed', { description: 'Requests finished with a response since it started.' }),
      failed: t.exposeFloat('failed'),
      gpuStats: t.field({ type: GpuStats, nullable: true, resolve: (worker) => worker.gpuStats }),
      kvCacheUsage: t.exposeFloat('kvCacheUsage', {
        nullable: true,
        description:
          "The engine's KV-cache use, 0 to 1, at the last heartbeat (vLLM's kv_cache_usage_perc); null when the engine does not report it.",
      }),
      startedAt: t.field({ type: 'DateTime', resolve: (worker) => new Date(worker.startedAtMs) }),
      heartbeatAt: t.field({ type: 'DateTime', resolve: (worker) => new Date(worker.heartbeatAtMs) }),
    }),
  });

  builder.queryField('workers', (t) =>
    t.field({
      type: [WorkerRef],
      description: "The fleet's workers (live ones, unless includeStopped).",
      args: { includeStopped: t.arg.boolean({ required: true, defaultValue: false }) },
      resolve: (_root, { includeStopped }, { database }) => listWorkers(database.db, { includeStopped }),
    }),
  );

  return WorkerRef;
}
