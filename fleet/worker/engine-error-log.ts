import type { Logger } from '../../core/logger.ts';

/** Options for {@link createEngineErrorLog}. */
export interface EngineErrorLogOptions {
  logger: Logger;
  /** How often a summary is written while errors come. */
  intervalMs?: number;
}

/** Says in the log what the engine is doing wrong, without a line per failed call. */
export interface EngineErrorLog {
  record(kind: string, message: string): void;
  /** Writes what is counted and stops. */
  close(): void;
}

const SAMPLE_CHARS = 300;

/**
 * Engine errors, summarised: the first after a quiet minute is logged at once (an operator
 * sees a new problem when it starts), then one line a minute with the count of each kind and
 * one sample message of each. A fleet of engines failing thousands of calls a minute would
 * otherwise log nothing (only a counter moves) or drown the log.
 */
export function createEngineErrorLog({ logger, intervalMs = 60_000 }: EngineErrorLogOptions): EngineErrorLog {
  let counts = new Map<string, { n: number; sample: string }>();
  let timer: ReturnType<typeof setTimeout> | undefined;

  const flush = () => {
    timer = undefined;
    if (counts.size === 0) return;
    const byKind = Object.fromEntries([...counts].map(([kind, { n }]) => [kind, n]));
    const samples = Object.fromEntries([...counts].map(([kind, { sample }]) => [kind, sample]));
    counts = new Map();
    logger.warn(`engine errors in the last ${Math.round(intervalMs / 1000)} s`, { errors: byKind, samples });
    timer = setTimeout(flush, intervalMs);
    timer.unref?.();
  };

  return {
    record(kind, message) {
      const sample = message.slice(0, SAMPLE_CHARS);
      if (!timer) {
        logger.warn('the engine failed a request', { kind, message: sample });
        timer = setTimeout(flush, intervalMs);
        timer.unref?.();
        return;
      }
      const entry = counts.get(kind);
      if (entry) entry.n++;
      else counts.set(kind, { n: 1, sample });
    },
    close() {
      clearTimeout(timer);
      flush();
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
