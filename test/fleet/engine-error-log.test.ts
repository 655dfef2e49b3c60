import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createEngineErrorLog } from '../../fleet/worker/engine-error-log.ts';

/** A logger whose JSON lines the test reads. */
function captured() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('the engine error log', () => {
  afterEach(() => vi.useRealTimers());

  it('logs the first error at once, then one summary a minute with counts by kind and a sample of each', () => {
    vi.useFakeTimers();
    const { logger, lines } = captured();
    const log = createEngineErrorLog({ logger, intervalMs: 60_000 });
    log.record('timeout', 'no response headers within 30000 ms');
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', msg: 'the engine failed a request', kind: 'timeout' })]);
    for (let i = 0; i < 1266; i++) log.record('timeout', 'no response headers within 30000 ms');
    for (let i = 0; i < 728; i++) log.record('http_5xx', `the engine answered 500: {"error":"the output did not match the format"} #${i}`);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      msg: 'engine errors in the last 60 s',
      errors: { timeout: 1266, http_5xx: 728 },
      samples: { timeout: 'no response headers within 30000 ms', http_5xx: expect.stringContaining('#0') },
    });
    vi.advanceTimersByTime(120_000);
    expect(lines).toHaveLength(2);
    log.record('connect', 'could not reach the engine');
    expect(lines[2]).toMatchObject({ msg: 'the engine failed a request', kind: 'connect' });
    log.close();
  });
});
