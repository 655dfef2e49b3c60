import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';

describe('the structured logger', () => {
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    return { lines, write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) };
  };

  it('writes one JSON object per line with the context of its child loggers', () => {
    const { lines, write } = capture();
    const log = createLogger({ write, fields: { service: 'gateway' } }).child({ batch_id: 'batch_1' });
    log.info('batch validated', { total: 3 });
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', msg: 'batch validated', service: 'gateway', batch_id: 'batch_1', total: 3 }),
    ]);
    expect(typeof lines[0]?.time).toBe('string');
  });

  it('writes batch, request and worker ids under their snake_case names whichever way they were given', () => {
    const { lines, write } = capture();
    const log = createLogger({ write }).child({ workerId: 'w1' });
    log.warn('engine error, retrying', { batchId: 'batch_2', requestId: 42, customId: 'c-1' });
    expect(lines[0]).toMatchObject({ worker_id: 'w1', batch_id: 'batch_2', request_id: 42, custom_id: 'c-1' });
    expect(lines[0]).not.toHaveProperty('batchId');
    expect(lines[0]).not.toHaveProperty('workerId');
  });

  it('drops lines below its level and attaches the message and stack of an error', () => {
    const { lines, write } = capture();
    const log = createLogger({ write, level: 'warn' });
    log.info('not written');
    log.error('failed', { err: new Error('boom') });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'failed', err: { message: 'boom', stack: expect.stringContaining('boom') } });
  });
});
