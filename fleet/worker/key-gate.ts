import type { Logger } from '../../core/logger.ts';
import type { EngineClient } from '../engine/client.ts';
import { createEngineGate, type EngineGate } from '../engine/gate.ts';

/** How often an engine that refused our API key is asked again (GET /v1/models, which needs the key). */
const PROBE_MS = 10_000;

/**
 * Whether the engine accepts this worker's API key. Closed by a 401/403 on /v1 (vLLM's
 * --api-key changed, or ENGINE_API_KEY is wrong): no request is at fault then, and every one
 * would fail the same way, so the worker stops leasing while it is closed; /v1/models is asked
 * every 10 s until the key is accepted again. Each change is logged, the refusal as an error.
 */
export function createKeyGate(client: EngineClient, logger: Logger): EngineGate {
  return createEngineGate({
    health: () => client.models().then(() => true, () => false),
    probeMs: PROBE_MS,
    onChange(up) {
      if (up) logger.info('the engine accepts this worker\'s API key again; leasing resumes', { engineUrl: client.baseUrl });
      else logger.error('the engine refuses this worker\'s API key (401/403 on /v1); leasing stopped and held requests go back to the queue. Set ENGINE_API_KEY to the engine\'s --api-key and restart the worker', { engineUrl: client.baseUrl });
    },
  });
}
