import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDuration, formatTable } from '../../cli/format.ts';
import { parseHandlerFlags, parseMetadataFlags } from '../../cli/handler-options.ts';
import { rewriteModel } from '../../cli/input-file.ts';
import { renderBar, renderLine, type Progress } from '../../cli/progress-bar.ts';
import { readSse } from '../../cli/sse.ts';
import { CliError, EXIT } from '../../cli/exit-codes.ts';
import { BUN, runToEnd } from '../helpers/processes.ts';

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

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
}

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

describe('--handler and --metadata flags', () => {
  it('build nested handler options, reading JSON values', () => {
    expect(
      parseHandlerFlags([
        'webhook.url=https://x.test/a?b=c',
        'webhook.includeResults=true',
        'webhook.headers.X-Token=abc',
        'webhook.events=["completed"]',
        'labelStudio',
      ]),
    ).toEqual({
      webhook: { url: 'https://x.test/a?b=c', includeResults: true, headers: { 'X-Token': 'abc' }, events: ['completed'] },
      labelStudio: {},
    });
  });

  it('refuse a flag without an option name or value, with a usage error', () => {
    for (const flag of ['=x', 'webhook=x', 'webhook.url', 'webhook..url=x', 'webhook.events=[oops']) {
      expect(() => parseHandlerFlags([flag]), flag).toThrow(CliError);
      try {
        parseHandlerFlags([flag]);
      } catch (error) {
        expect((error as CliError).exitCode).toBe(EXIT.USAGE);
      }
    }
  });

  it('read metadata pairs', () => {
    expect(parseMetadataFlags(['team=search', 'run=a=b'])).toEqual({ team: 'search', run: 'a=b' });
    expect(parseMetadataFlags([])).toBeUndefined();
    expect(() => parseMetadataFlags(['novalue'])).toThrow(CliError);
  });
});

describe('--model', () => {
  it('replaces the model of every request and keeps lines it cannot read', () => {
    const text = '{"custom_id":"a","body":{"model":"x","n":1}}\nnot json\n\n{"custom_id":"b","body":{"model":"y"}}\n';
    expect(rewriteModel(text, 'm')).toBe(
      '{"custom_id":"a","body":{"model":"m","n":1}}\nnot json\n\n{"custom_id":"b","body":{"model":"m"}}\n',
    );
  });
});

describe('the SSE reader', () => {
  it('parses events split across chunks, with comments and CRLF', async () => {
    const events = [];
    for await (const e of readSse(
      streamOf(':\n\nevent: next\r\ndata: {"a"', ':1}\r\n\r\nevent: next\ndata: x\ndata: y\n\nevent: complete\ndata:\n\n'),
    ))
      events.push(e);
    expect(events).toEqual([
      { event: 'next', data: '{"a":1}' },
      { event: 'next', data: 'x\ny' },
      { event: 'complete', data: '' },
    ]);
  });

  it('ends when the signal aborts, even if the body never does', async () => {
    const body = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode('event: next\ndata: 1\n\n')) });
    const abort = new AbortController();
    const seen: string[] = [];
    for await (const e of readSse(body, abort.signal)) {
      seen.push(e.data);
      abort.abort();
    }
    expect(seen).toEqual(['1']);
  });
});

describe('the module boundary lint', () => {
  it('refuses a cli file that imports server code', async () => {
    const tree = mkdtempSync(join(tmpdir(), 'vbs-cli-lint-'));
    try {
      mkdirSync(join(tree, 'cli'));
      mkdirSync(join(tree, 'core'));
      writeFileSync(join(tree, 'core/errors.ts'), 'export const x = 1;\n');
      writeFileSync(join(tree, 'cli/main.ts'), "import { x } from '../core/errors.ts';\n");
      const result = await runToEnd(BUN, ['scripts/check-boundaries.ts', tree]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('cli/main.ts: imports ../core/errors.ts; cli/ may not import core/');
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });
});
