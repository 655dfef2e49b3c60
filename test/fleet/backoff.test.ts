import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../fleet/engine/backoff.ts';

describe('backing off a retry', () => {
  it('backs off exponentially with full jitter, never below Retry-After', () => {
    expect(backoffMs(0, { baseMs: 100, maxMs: 1000 }, null, () => 0.999)).toBe(99);
    expect(backoffMs(3, { baseMs: 100, maxMs: 1000 }, null, () => 0.999)).toBe(799);
    expect(backoffMs(10, { baseMs: 100, maxMs: 1000 }, null, () => 0.999)).toBe(999);
    expect(backoffMs(2, { baseMs: 100, maxMs: 1000 }, 5000, () => 0.5)).toBe(5000);
  });
});
