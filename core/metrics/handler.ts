import type { Registry } from './registry.ts';

/** The content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A fetch handler that answers every request with the registry's metrics; serve it on any runtime. */
export function metricsHandler(registry: Registry): (request?: Request) => Promise<Response> {
  return async function serveMetrics() {
    return new Response(await registry.render(), { headers: { 'content-type': METRICS_CONTENT_TYPE } });
  };
}
