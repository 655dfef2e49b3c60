import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { sql } from 'drizzle-orm';
import { registerWorker, rows } from '../../schema/index.ts';
import { FIXTURES, useCliGateway, vbs } from './harness.ts';

const CHAT = `${FIXTURES}chat-100.jsonl`;
const BAD = `${FIXTURES}bad-lines.jsonl`;
const dir = mkdtempSync(join(tmpdir(), 'vbs-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vbs against a gateway', () => {
  const gateway = useCliGateway({ WEBHOOK_SECRET: 'deployment-secret-0123' });

  async function submitted(
    args: string[] = [],
  ): Promise<{ id: string; priority: number; metadata: unknown; input_file_id: string; status: string }> {
    const result = await gateway().run(['submit', CHAT, '--json', ...args]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(EXIT.OK);
    return JSON.parse(result.stdout);
  }

  it('submits a file and prints the batch id', async () => {
    const result = await gateway().run(['submit', CHAT]);
    expect(result.code).toBe(EXIT.OK);
    expect(result.stdout).toMatch(
      /^Uploaded chat-100\.jsonl \(47\.8 KiB\) as file-\S+\nCreated batch (batch_\S+) \(validating\)\nFollow it: vbs watch batch_\S+\n$/,
    );
  });

  it('passes priority, metadata and handler options to the batch', async () => {
    const batch = await submitted([
      '--priority',
      '7',
      '--metadata',
      'team=search',
      '--handler',
      'webhook.url=https://example.com/hook',
      '--handler',
      'webhook.includeResults=true',
    ]);
    expect(batch.priority).toBe(7);
    expect(batch.metadata).toEqual({ team: 'search' });
    const [row] = await rows<{ handlers: unknown }>(gateway().db.database.db, sql`select handlers from batches where id = ${batch.id}`);
    expect(row?.handlers).toMatchObject({ webhook: { url: 'https://example.com/hook', includeResults: true } });
  });

  it('rewrites the model of every request with --model', async () => {
    const batch = await submitted(['--model', 'other-model']);
    const content = await (await gateway().app.request(`/v1/files/${batch.input_file_id}/content`)).text();
    const models = new Set(
      content
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).body.model),
    );
    expect([...models]).toEqual(['other-model']);
  });

  it('exits 2 naming the option when the gateway refuses handler options', async () => {
    const result = await gateway().run(['submit', CHAT, '--handler', 'webhook.url=not-a-url']);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.stderr).toContain('handlers.webhook.url');
  });

  it('exits 2 for a missing file, an unknown option and a missing argument', async () => {
    const missing = await gateway().run(['submit', join(dir, 'nope.jsonl')]);
    expect(missing.code).toBe(EXIT.USAGE);
    expect(missing.stderr).toContain('nope.jsonl: no such file');
    expect((await gateway().run(['status', '--bogus'])).code).toBe(EXIT.USAGE);
    expect((await gateway().run(['watch'])).code).toBe(EXIT.USAGE);
    expect((await gateway().run(['frobnicate'])).code).toBe(EXIT.USAGE);
  });

  it('asks for --endpoint when the first line does not name one', async () => {
    const file = join(dir, 'no-url.jsonl');
    writeFileSync(file, '{"custom_id": "a", "method": "POST", "body": {"model": "sim-model"}}\n');
    const result = await gateway().run(['submit', file]);
    expect(result.code).toBe(EXIT.USAGE);
    expect(result.stderr).toContain('--endpoint');
  });

  it('shows one batch, and lists batches newest first', async () => {
    const batch = await submitted();
    await gateway().app.validator.idle();
    const one = await gateway().run(['status', batch.id]);
    expect(one.code).toBe(EXIT.OK);
    expect(one.stdout).toContain(`${batch.id}  in_progress`);
    expect(one.stdout).toMatch(/requests\s+100 total, 0 completed, 0 failed/);
    const json = JSON.parse((await gateway().run(['status', batch.id, '--json'])).stdout);
    expect(json).toMatchObject({ id: batch.id, object: 'batch', status: 'in_progress', request_counts: { total: 100 } });
    const list = await gateway().run(['status', '--limit', '3']);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+MODEL\s+DONE\s+FAILED\s+CREATED$/);
    expect(list.stdout.split('\n')[1]).toContain(batch.id);
    const listed = JSON.parse((await gateway().run(['status', '--json'])).stdout) as { id: string }[];
    expect(listed[0]?.id).toBe(batch.id);
  });

  it('exits 4 for a batch that does not exist', async () => {
    for (const args of [
      ['status', 'batch_nope'],
      ['watch', 'batch_nope'],
      ['cancel', 'batch_nope'],
      ['download', 'batch_nope'],
    ]) {
      const result = await gateway().run(args);
      expect(result.code, args.join(' ')).toBe(EXIT.NOT_FOUND);
      expect(result.stderr).toContain('batch_nope');
    }
  });

  it('cancels a batch, and a watcher sees it end cancelled with exit 1', async () => {
    const batch = await submitted();
    await gateway().app.validator.idle();
    const watching = gateway().watch(['watch', batch.id]);
    await watching.started;
    const cancelled = await gateway().run(['cancel', batch.id]);
    expect(cancelled.code).toBe(EXIT.OK);
    expect(cancelled.stdout).toMatch(new RegExp(`^Batch ${batch.id} (cancelling|cancelled)\\.\\n$`));
    const watched = await watching.result;
    expect(watched.code).toBe(EXIT.BATCH_NOT_COMPLETED);
    expect(watched.stdout).toContain(`${batch.id} in_progress 0/100  0%  0 tok/s  ETA ?\n`);
    expect(watched.stdout).toContain(`${batch.id} cancelled 0/100  0%\n`);
    expect(watched.stdout).toContain(`Batch ${batch.id} cancelled: 0 of 100 requests succeeded, 0 failed.`);
    const again = await gateway().run(['cancel', batch.id]);
    expect(again.code).toBe(EXIT.USAGE);
    expect(again.stderr).toContain('can no longer be cancelled');
  });

  it('downloads the error file of a cancelled batch, and exits 4 while a batch runs', async () => {
    const batch = await submitted();
    await gateway().app.validator.idle();
    const early = await gateway().run(['download', batch.id, '-o', dir]);
    expect(early.code).toBe(EXIT.NOT_FOUND);
    expect(early.stderr).toContain('is in_progress');
    await gateway().run(['cancel', batch.id]);
    const result = await gateway().run(['download', batch.id, '-o', join(dir, 'out'), '--json']);
    expect(result.code).toBe(EXIT.OK);
    const saved = JSON.parse(result.stdout) as { kind: string; path: string; bytes: number }[];
    expect(saved.map((f) => f.kind)).toEqual(['error']);
    const lines = readFileSync(saved[0]!.path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(100);
    expect(lines[0]).toMatchObject({ custom_id: 'cand-0000', error: { code: 'batch_cancelled' } });
    expect(saved[0]!.bytes).toBe(readFileSync(saved[0]!.path).length);
  });

  it('watches a bad file fail, printing each bad line, with exit 1', async () => {
    const result = await gateway().run(['submit', BAD, '--watch']);
    expect(result.code).toBe(EXIT.BATCH_NOT_COMPLETED);
    expect(result.stdout).toMatch(/ failed 0\/0 /);
    const expected = JSON.parse(readFileSync(`${FIXTURES}bad-lines.expected.json`, 'utf8')) as { bad_lines: Record<string, string> };
    const lines = [...result.stdout.matchAll(/^ {2}line (\d+): /gm)].map((m) => m[1]);
    expect(lines).toEqual(Object.keys(expected.bad_lines));
  });

  it('streams progress as JSON lines with --json', async () => {
    const batch = await submitted();
    await gateway().app.validator.idle();
    const watching = gateway().watch(['watch', batch.id, '--json']);
    await watching.started;
    await gateway().run(['cancel', batch.id]);
    const result = await watching.result;
    const events = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { status: string; final: boolean });
    expect(events[0]).toMatchObject({ batchId: batch.id, status: 'in_progress', total: 100, final: false });
    expect(events.at(-1)).toMatchObject({ status: 'cancelled', final: true });
  });

  it('draws one redrawn bar on a terminal', async () => {
    const batch = await submitted();
    await gateway().app.validator.idle();
    const watching = gateway().watch(['watch', batch.id], { tty: true });
    await watching.started;
    await gateway().run(['cancel', batch.id]);
    const result = await watching.result;
    expect(result.stdout).toContain(`Watching ${batch.id} (Ctrl-C stops watching; the batch goes on)\n\r\x1b[2Kin_progress [░`);
    expect(result.stdout).toMatch(new RegExp(`\\r\\x1b\\[2Kcancelled   \\[░+\\]  0/100  0%\\nBatch ${batch.id} cancelled`));
    for (const line of result.stdout.split(/\r|\n/)) expect(line.replace('\x1b[2K', '').length).toBeLessThan(100);
  });

  it('stops watching on Ctrl-C with exit 130, leaving the batch running', async () => {
    const batch = await submitted();
    const interrupt = new AbortController();
    const watching = gateway().watch(['watch', batch.id], { signal: interrupt.signal });
    await watching.started;
    interrupt.abort();
    const result = await watching.result;
    expect(result.code).toBe(EXIT.INTERRUPTED);
    expect(result.stderr).toContain(`Stopped watching ${batch.id}; the batch goes on`);
  });

  it('lists models and workers', async () => {
    await registerWorker(gateway().db.database.db, {
      id: 'wrk_cli',
      host: 'gpu-host-1',
      gpu: '0',
      pid: 4242,
      runtime: 'bun',
      model: 'sim-model',
      engineUrl: 'http://127.0.0.1:9',
      status: 'ready',
    });
    const workers = await gateway().run(['workers']);
    expect(workers.code).toBe(EXIT.OK);
    expect(workers.stdout).toMatch(/^ID\s+HOST\s+GPU\s+MODEL\s+STATUS/);
    expect(workers.stdout).toMatch(/wrk_cli\s+gpu-host-1\s+0\s+sim-model\s+ready\s+0\/\d+\s+0\s+0\s+\ds ago/);
    const models = JSON.parse((await gateway().run(['models', '--json'])).stdout) as {
      name: string;
      workers: number;
      registered: boolean;
    }[];
    expect(models).toContainEqual(expect.objectContaining({ name: 'sim-model', workers: 1, registered: false }));
    const table = await gateway().run(['models']);
    expect(table.stdout).toMatch(/sim-model\s+yes\s+1\s+-\s+\(loaded by a worker, not registered\)/);
  });
});

describe('vbs against a gateway with API keys', () => {
  const gateway = useCliGateway({ API_KEYS: 'key-a,key-b' });

  it('exits 3 without a key or with a wrong one, and works with VBS_API_KEY or --api-key', async () => {
    const none = await gateway().run(['status']);
    expect(none.code).toBe(EXIT.UNAVAILABLE);
    expect(none.stderr).toContain('VBS_API_KEY');
    expect((await gateway().run(['status', '--api-key', 'wrong'])).code).toBe(EXIT.UNAVAILABLE);
    expect((await gateway().run(['workers'], { env: { VBS_API_KEY: 'wrong' } })).code).toBe(EXIT.UNAVAILABLE);
    const submitted = await gateway().run(['submit', CHAT, '--json'], { env: { VBS_API_KEY: 'key-a' } });
    expect(submitted.code).toBe(EXIT.OK);
    const { id } = JSON.parse(submitted.stdout) as { id: string };
    expect((await gateway().run(['status', id, '--api-key', 'key-a'])).code).toBe(EXIT.OK);
    // Another key's batch is not found, as the gateway says 404 rather than 403.
    expect((await gateway().run(['status', id, '--api-key', 'key-b'])).code).toBe(EXIT.NOT_FOUND);
  });
});

describe('vbs without a gateway', () => {
  it('exits 3 and says how to reach one', async () => {
    const result = await vbs(['status', '--url', 'http://127.0.0.1:9'], { fetch });
    expect(result.code).toBe(EXIT.UNAVAILABLE);
    expect(result.stderr).toContain('Cannot reach the gateway at http://127.0.0.1:9');
  });

  it('exits 2 for a URL that is not one', async () => {
    const result = await vbs(['status'], { fetch, env: { VBS_URL: 'ftp://x' } });
    expect(result.code).toBe(EXIT.USAGE);
  });
});
