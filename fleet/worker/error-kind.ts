import type { EngineErrorKind } from './metrics.ts';
import type { EngineOutcome } from '../engine/outcome.ts';

/** The metrics label of a failed engine call. */
export function engineErrorKind(
  outcome: Extract<EngineOutcome, { kind: 'retry' | 'rejected' | 'unauthorized' | 'failed' }>,
): EngineErrorKind {
  if (outcome.kind === 'rejected') return 'http_4xx';
  if (outcome.kind === 'unauthorized') return 'unauthorized';
  if (outcome.kind === 'failed') return 'bad_response';
  switch (outcome.reason) {
    case 'server_error':
      return 'http_5xx';
    case 'rate_limited':
      return 'http_429';
    case 'connection':
      return 'connect';
    case 'incomplete':
      return 'reset';
    case 'stalled':
      return 'stall';
    case 'connect_timeout':
    case 'first_token_timeout':
      return 'timeout';
    case 'engine_abort':
      return 'abort';
  }
}
