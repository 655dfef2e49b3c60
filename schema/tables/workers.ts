import { bigint, index, integer, jsonb, pgTable, real, text } from 'drizzle-orm/pg-core';
import { at } from './columns.ts';

/** GPU readings from nvidia-smi, when present. */
export interface GpuStats {
  memoryUsedMiB: number;
  memoryTotalMiB: number;
  utilizationPercent: number;
  temperatureC: number;
}

/** A model an engine lists on /v1/models, with the card fields vLLM gives (`root`: the weights' source). */
export interface EngineModelCard {
  id: string;
  root?: string | null;
  maxModelLen?: number | null;
}

/** One row per worker process. */
export const workers = pgTable(
  'workers',
  {
    id: text('id').primaryKey(),
    host: text('host').notNull(),
    gpu: text('gpu').notNull(),
    pid: integer('pid').notNull(),
    runtime: text('runtime').notNull().default('bun'),
    model: text('model'),
    /** Every model the worker's engine serves (one for an owned engine; an engine given by URL may serve several). */
    engineModels: jsonb('engine_models').$type<EngineModelCard[]>().notNull().default([]),
    engineUrl: text('engine_url').notNull(),
    /**
     * The application_name of the worker's own Postgres connections, when it has a pool of its
     * own: once none is left and its heartbeat is late, the reaper returns its leases at once.
     */
    connectionName: text('connection_name'),
    /** starting, ready, switching, draining, stopped, lost */
    status: text('status').notNull(),
    capacity: integer('capacity').notNull().default(0),
    inFlight: integer('in_flight').notNull().default(0),
    completed: bigint('completed', { mode: 'number' }).notNull().default(0),
    failed: bigint('failed', { mode: 'number' }).notNull().default(0),
    /** Requests the worker finished per second lately: the fleet's observed throughput, for estimates and deadlines. */
    completionRate: real('completion_rate').notNull().default(0),
    /** The engine's KV-cache use (1 = full) at the last heartbeat, from its /metrics; null when the engine does not say. */
    kvCacheUsage: real('kv_cache_usage'),
    gpuStats: jsonb('gpu_stats').$type<GpuStats>(),
    startedAt: at('started_at').notNull().defaultNow(),
    heartbeatAt: at('heartbeat_at').notNull().defaultNow(),
  },
  (t) => [index('workers_heartbeat_idx').on(t.status, t.heartbeatAt)],
);
