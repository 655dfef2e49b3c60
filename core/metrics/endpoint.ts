import type { Registry } from './registry.ts';

/** The content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The /metrics endpoint: a fetch function that answers every request with the registry's metrics; serve it on any runtime. */
export function createMetricsEndpoint(registry: Registry): (request?: Request) => Promise<Response> {
  return async function serveMetrics() {
    return new Response(await registry.render(), { headers: { 'content-type': METRICS_CONTENT_TYPE } });
  };
}
