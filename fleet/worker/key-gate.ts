import type { Logger } from '../../core/logger.ts';
import { sleep } from '../engine/backoff.ts';
import type { EngineClient } from '../engine/client.ts';
import { createEngineGate, type EngineGate } from '../engine/gate.ts';

/** How long after a refusal the engine is asked again, each time: a key does not change by itself. */
const PROBE_MS = 10_000;

/**
 * Whether the engine accepts this worker's API key. Closed by a 401/403 on /v1 (vLLM's
 * --api-key changed, or ENGINE_API_KEY is wrong): no request is at fault then, and every one
 * would fail the same way, so the worker stops leasing while it is closed. Every 10 s it sends
 * an empty chat request, which every engine guards (llama-server leaves /v1/models open, so
 * that would say nothing): a 401 or 403 keeps the gate closed, any other answer (vLLM's 400 for
 * the missing messages) opens it. Each change is logged, the refusal as an error.
 */
export function createKeyGate(client: EngineClient, logger: Logger): EngineGate {
  return createEngineGate({
    async health(signal) {
      await sleep(PROBE_MS, signal);
      if (signal.aborted) return false;
      const outcome = await client.call('/v1/chat/completions', '{}', signal);
      if (outcome.kind === 'unauthorized') return false;
      // No answer at all says nothing about the key: ask again later.
      return !(outcome.kind === 'retry' && outcome.statusCode === null);
    },
    probeMs: 1,
    onChange(up) {
      if (up) logger.info("the engine accepts this worker's API key again; leasing resumes", { engineUrl: client.baseUrl });
      else
        logger.error(
          "the engine refuses this worker's API key (401/403 on /v1); leasing stopped and held requests go back to the queue. Set ENGINE_API_KEY to the engine's --api-key and restart the worker",
          { engineUrl: client.baseUrl },
        );
    },
  });
}
