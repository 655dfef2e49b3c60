import { describe, expect, it } from 'vitest';
import { formatDuration, formatTable } from '../../cli/format.ts';
import { renderBar, renderLine, type Progress } from '../../cli/progress-bar.ts';

const progress = (p: Partial<Progress> = {}): Progress => ({
  batchId: 'batch_1',
  status: 'in_progress',
  total: 200,
  completed: 48,
  failed: 2,
  remaining: 150,
  tokensPerSecond: 1234.4,
  requestsPerSecond: 5,
  estimatedSecondsLeft: 125,
  final: false,
  ...p,
});

describe('the progress bar', () => {
  it('shows done/total, percent, failures, tokens per second and time left', () => {
    expect(renderLine(progress())).toBe('batch_1 in_progress 50/200  25%  2 failed  1,234 tok/s  ETA 2m 05s');
  });

  it('fills a quarter of the bar at 25% and fits the width', () => {
    const bar = renderBar(progress(), 100);
    const [, filled, empty] = /\[(█*)(░*)\]/.exec(bar)!;
    expect(filled!.length / (filled!.length + empty!.length)).toBeCloseTo(0.25, 1);
    expect(bar.length).toBeLessThanOrEqual(100);
  });

  it('says the time left is unknown until something finished, and drops rates at the end', () => {
    expect(renderLine(progress({ completed: 0, failed: 0, estimatedSecondsLeft: null }))).toContain('ETA ?');
    expect(renderLine(progress({ status: 'validating', total: 0, completed: 0, failed: 0, remaining: 0, estimatedSecondsLeft: 0 }))).toBe(
      'batch_1 validating counting requests',
    );
    expect(renderLine(progress({ status: 'completed', completed: 200, failed: 0, remaining: 0, final: true }))).toBe(
      'batch_1 completed 200/200  100%',
    );
  });

  it('formats durations and tables', () => {
    expect([formatDuration(42), formatDuration(185), formatDuration(7620)]).toEqual(['42s', '3m 05s', '2h 07m']);
    expect(formatTable(['A', 'BB'], [['xxx', 'y']])).toBe('A    BB\nxxx  y\n');
  });
});
