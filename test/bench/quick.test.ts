import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, inject } from 'vitest';
import { BUN, runToEnd } from '../helpers/processes.ts';

interface Figure {
  value: number;
  unit: string;
  label: string;
}

interface Outcome {
  name: string;
  result: {
    name: string;
    result: Figure;
    reference: Figure | null;
    ratio: number | null;
    goal: string;
    pass: boolean;
    details: Record<string, number | string>;
  } | null;
  error: string | null;
}

const NAMES = ['saturation', 'lease-path', 'fleet-scale', 'ingest', 'recovery', 'fan-out'];

// Proves that every benchmark runs end to end on real Postgres, Redis and Bun processes, and
// reports well-formed numbers. It asserts no timings or ratios: speed is what `npm run bench` is for.
describe('the benchmarks in quick mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vbs-bench-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('run all six and write a table of finite, positive numbers', { timeout: 240_000 }, async () => {
    const finished = await runToEnd(
      BUN,
      ['scripts/bench/run.ts', '--quick', '--out', join(dir, 'results.md'), '--json', join(dir, 'results.json')],
      {
        // The scratch databases carry the run id, so the suite's teardown removes any a crash left.
        env: { BENCH_DB_TAG: inject('runId') },
        timeoutMs: 230_000,
      },
    );
    expect(finished.code, finished.stderr.slice(-6000)).toBe(0);
    const { outcomes } = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { outcomes: Outcome[] };
    expect(outcomes.map((o) => o.name)).toEqual(NAMES);
    for (const { name, result, error } of outcomes) {
      expect(error, name).toBeNull();
      expect(result?.name).toBe(name);
      const figures = [result!.result, ...(result!.reference ? [result!.reference] : [])];
      for (const f of figures) {
        expect(Number.isFinite(f.value) && f.value > 0, `${name}: ${JSON.stringify(f)}`).toBe(true);
        expect(f.unit.length).toBeGreaterThan(0);
      }
      if (result!.ratio !== null) expect(Number.isFinite(result!.ratio) && result!.ratio > 0, `${name} ratio ${result!.ratio}`).toBe(true);
      expect(typeof result!.pass).toBe('boolean');
      for (const [key, value] of Object.entries(result!.details)) {
        if (typeof value === 'number') expect(Number.isFinite(value) && value > 0, `${name}: ${key} = ${value}`).toBe(true);
      }
    }
    const markdown = readFileSync(join(dir, 'results.md'), 'utf8');
    for (const title of ['Saturation', 'Lease path', 'Fleet scale', 'Ingest', 'Recovery', 'Fan-out'])
      expect(markdown).toMatch(new RegExp(`^\\| \\d \\| ${title} \\| \\d`, 'm'));
    expect(markdown).toMatch(/Node v\d+.*Bun \d/);
    expect(markdown).toContain('scripts/bench/run.ts --quick');
  });
});
