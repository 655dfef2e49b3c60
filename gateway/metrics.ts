import type { Registry } from '../core/metrics/index.ts';
import type { Database } from '../schema/index.ts';
import { readGatewayMetrics } from '../schema/sql/read-gateway-metrics.ts';

/** Options for {@link createGatewayMetrics}. */
export interface GatewayMetricsOptions {
  database: Database;
  /** A scrape within this many milliseconds of the last one reuses its numbers (several scrapers, one query). */
  cacheMs?: number;
}

/**
 * The gateway's metrics on its registry: what this process sees (HTTP requests,
 * subscribers, events) and, read at scrape time with one grouped statement, what
 * Postgres knows (queue depth per model, batches, totals, handler runs, workers).
 * The Postgres numbers are the same on every replica: aggregate them with max, not sum.
 */
export function createGatewayMetrics(registry: Registry, { database, cacheMs = 1_000 }: GatewayMetricsOptions) {
  const m = {
    httpRequests: registry.counter({
      name: 'vbs_gateway_http_requests_total',
      help: 'HTTP requests answered, by method, route and status.',
      labelNames: ['method', 'route', 'status'],
    }),
    httpSeconds: registry.histogram({
      name: 'vbs_gateway_http_request_duration_seconds',
      help: 'Time to the response headers, by method and route.',
      labelNames: ['method', 'route'],
    }),
    subscriptions: registry.gauge({
      name: 'vbs_gateway_subscriptions',
      help: 'GraphQL subscriptions open now on this replica, over SSE and WebSocket.',
      labelNames: ['subscription'],
    }),
    websockets: registry.gauge({ name: 'vbs_gateway_websocket_connections', help: 'graphql-ws connections open now on this replica.' }),
    eventsReceived: registry.counter({
      name: 'vbs_gateway_events_received_total',
      help: 'Bus events received for batch progress subscriptions, by type.',
      labelNames: ['type'],
    }),
    eventsDelivered: registry.counter({
      name: 'vbs_gateway_events_delivered_total',
      help: 'Events handed to subscribers, by subscription (after coalescing).',
      labelNames: ['subscription'],
    }),
    requests: registry.gauge({
      name: 'vbs_requests',
      help: 'Requests waiting (queued) or in flight (leased), by model.',
      labelNames: ['model', 'status'],
    }),
    batches: registry.gauge({ name: 'vbs_batches', help: 'Batches by status.', labelNames: ['status'] }),
    completed: registry.counter({
      name: 'vbs_requests_completed_total',
      help: 'Requests finished with a response, over all batches (from the batch counters).',
    }),
    failed: registry.counter({
      name: 'vbs_requests_failed_total',
      help: 'Requests finished with an error, over all batches (from the batch counters).',
    }),
    tokens: registry.counter({
      name: 'vbs_tokens_total',
      help: 'Tokens of finished requests over all batches, by kind (prompt, completion).',
      labelNames: ['kind'],
    }),
    handlerRuns: registry.gauge({
      name: 'vbs_handler_runs',
      help: 'Result handler runs by handler and status (queued, running, succeeded, dead).',
      labelNames: ['handler', 'status'],
    }),
    workers: registry.gauge({ name: 'vbs_workers', help: 'Workers by model and status.', labelNames: ['model', 'status'] }),
    scrapeErrors: registry.counter({
      name: 'vbs_gateway_metrics_read_errors_total',
      help: 'Scrapes whose Postgres read failed (the numbers shown are the previous ones).',
    }),
  };

  let lastReadAt = -Infinity;
  let inFlight: Promise<void> | null = null;
  const refresh = async () => {
    const rows = await readGatewayMetrics(database.db);
    for (const g of [m.requests, m.batches, m.handlerRuns, m.workers]) g.reset();
    for (const { section, key, status, value } of rows) {
      if (section === 'requests') m.requests.set({ model: key, status }, value);
      else if (section === 'batches') m.batches.set({ status }, value);
      else if (section === 'handler_runs') m.handlerRuns.set({ handler: key, status }, value);
      else if (section === 'workers') m.workers.set({ model: key, status }, value);
      else if (status === 'completed') m.completed.set({}, value);
      else if (status === 'failed') m.failed.set({}, value);
      else m.tokens.set({ kind: status.replace(/_tokens$/, '') }, value);
    }
    lastReadAt = Date.now();
  };
  registry.collect(async () => {
    if (Date.now() - lastReadAt < cacheMs) return;
    inFlight ??= refresh()
      .catch((err) => {
        m.scrapeErrors.inc();
        throw err;
      })
      .finally(() => {
        inFlight = null;
      });
    await inFlight;
  });
  return m;
}

/** The gateway's metrics, as {@link createGatewayMetrics} returns them. */
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
