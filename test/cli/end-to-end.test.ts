import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { runToEnd } from '../helpers/processes.ts';
import { startEmbeddedSystem, type System } from '../helpers/system.ts';
import { FIXTURES } from './harness.ts';

const CHAT = `${FIXTURES}chat-100.jsonl`;

describe('npx vbs against npm start (embedded mode)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vbs-cli-e2e-'));
  let system: System;
  beforeAll(async () => {
    system = await startEmbeddedSystem(join(dir, 'data'));
  }, 90_000);
  afterAll(async () => {
    await system?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const vbs = (args: string[], command = 'node', prefix = ['cli/vbs.mjs']) =>
    runToEnd(command, [...prefix, ...args], { env: { VBS_URL: system.url, VBS_API_KEY: '' }, timeoutMs: 60_000 });

  it('submits chat-100.jsonl with --watch, ends completed, and downloads the results', async () => {
    const watched = await vbs(['submit', CHAT, '--watch'], 'npx', ['vbs']);
    expect(watched.stderr, system.output()).toBe('');
    expect(watched.code).toBe(EXIT.OK);
    const id = /Created batch (batch_\S+) /.exec(watched.stdout)![1]!;
    // Not a terminal: plain lines, the last of them the end.
    expect(watched.stdout).toContain(`${id} completed 100/100  100%\n`);
    expect(watched.stdout).toContain(`Batch ${id} completed: 100 of 100 requests succeeded, 0 failed.\n`);

    const status = await vbs(['status', id, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, status: 'completed', request_counts: { total: 100, completed: 100, failed: 0 } });

    const downloaded = await vbs(['download', id, '-o', join(dir, 'results')]);
    expect(downloaded.code).toBe(EXIT.OK);
    const output = readFileSync(join(dir, 'results', `${id}_output.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string; response: { status_code: number; body: { object: string } } });
    const input = readFileSync(CHAT, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
    expect(output.map((o) => o.custom_id)).toEqual(input);
    expect(output.every((o) => o.response.status_code === 200 && o.response.body.object === 'chat.completion')).toBe(true);
  });

  it('lists the embedded worker and the simulated models', async () => {
    const workers = await vbs(['workers', '--json']);
    expect(JSON.parse(workers.stdout)).toEqual([expect.objectContaining({ status: 'ready' })]);
    const models = (JSON.parse((await vbs(['models', '--json'])).stdout) as { name: string }[]).map((m) => m.name);
    expect(models).toContain('sim-model');
  });
});
