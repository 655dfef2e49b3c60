import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { recordAnnotation, type AnnotationPatch } from '../../schema/index.ts';
import { answerLines } from '../helpers/results.ts';
import { useCliGateway } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'vbs-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = 'key-alice';
const OTHER = 'key-bob';

describe('vbs export', () => {
  const gateway = useCliGateway({ API_KEYS: `${KEY},${OTHER}` });
  const run = (args: string[], key = KEY) => gateway().run(args, { env: { VBS_API_KEY: key } });

  /** A chat batch of lines a, b, c (each asking `question X`, answered `answer to X`), as its owner submitted it. */
  async function batch(endpoint = '/v1/chat/completions', key = KEY): Promise<string> {
    const body = (id: string) =>
      endpoint === '/v1/embeddings'
        ? { model: 'sim-embed', input: id }
        : { model: 'sim-model', messages: [{ role: 'user', content: `question ${id}` }] };
    const res = await gateway().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({
        query: 'mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }',
        variables: { input: { endpoint, requests: ['a', 'b', 'c'].map((id) => ({ customId: id, body: body(id) })) } },
      }),
    });
    const id = ((await res.json()) as { data: { createBatch: { id: string } } }).data.createBatch.id;
    await gateway().app.validator.idle();
    await answerLines(gateway().db.database.db, id, {
      status: 'succeeded',
      statusCode: 200,
      response: sql`'{"choices":[{"index":0,"message":{"role":"assistant","content":' || to_json('answer to ' || r.custom_id)::text || '}}]}'`,
    });
    return id;
  }

  async function annotate(batchId: string, customId: string, patch: AnnotationPatch) {
    const outcome = await recordAnnotation(gateway().db.database.db, {
      batchId,
      customId,
      owner: null,
      patch,
      annotator: 'reviewer',
      source: 'api',
      annotationHandlers: [],
    });
    expect(outcome.ok).toBe(true);
  }

  const lines = (text: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, any>);

  it('writes the gold results of several batches to a file and prints the file id and line count on stderr', async () => {
    const first = await batch();
    const second = await batch();
    await annotate(first, 'b', { gold: true, correction: 'better b' });
    await annotate(second, 'a', { gold: true });
    const out = join(dir, 'train.jsonl');
    const result = await run(['export', first, second, '--format', 'openai-chat', '-o', out]);
    expect(result.code).toBe(EXIT.OK);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(new RegExp(`^(file-\\S+): 2 lines \\(\\d+ B\\) written to ${out.replace(/[.]/g, '\\.')}\n$`));
    expect(lines(readFileSync(out, 'utf8'))).toEqual([
      {
        messages: [
          { role: 'user', content: 'question b' },
          { role: 'assistant', content: 'better b' },
        ],
      },
      {
        messages: [
          { role: 'user', content: 'question a' },
          { role: 'assistant', content: 'answer to a' },
        ],
      },
    ]);
    expect(existsSync(`${out}.partial`)).toBe(false);
    // The same file is the gateway's, listed as fine-tune.
    const fileId = /^(file-\S+):/.exec(result.stderr)![1]!;
    const listed = await gateway().app.request('/v1/files?purpose=fine-tune', { headers: { authorization: `Bearer ${KEY}` } });
    expect(((await listed.json()) as { data: { id: string }[] }).data.map((f) => f.id)).toContain(fileId);
    const json = await run(['export', first, second, '--format', 'openai-chat', '-o', out, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: expect.stringMatching(/^file-/), lines: 2, path: out });
  });

  it('writes to stdout with -o -, takes every result with --all, and filters by rating and labels', async () => {
    const id = await batch();
    await annotate(id, 'a', { rating: 5, labels: ['tone'] });
    await annotate(id, 'b', { rating: 2, labels: ['facts'] });
    const all = await run(['export', id, '--format', 'prompt-completion', '--all', '-o', '-']);
    expect(all.code).toBe(EXIT.OK);
    expect(lines(all.stdout)).toEqual(
      ['a', 'b', 'c'].map((x) => ({ prompt: `user: question ${x}\n\nassistant: `, completion: `answer to ${x}` })),
    );
    expect(all.stderr).toMatch(/^file-\S+: 3 lines \(\d+ B\)\n$/);
    const rated = await run(['export', id, '--format', 'prompt-completion', '--all', '--min-rating', '4', '-o', '-']);
    expect(lines(rated.stdout).map((l) => l.completion)).toEqual(['answer to a']);
    const labelled = await run(['export', id, '--format', 'openai-chat', '--all', '--label', 'facts', '--label', 'other', '-o', '-']);
    expect(lines(labelled.stdout).map((l) => l.messages[1].content)).toEqual(['answer to b']);
    const none = await run(['export', id, '--format', 'openai-chat', '-o', '-']);
    expect(none.code).toBe(EXIT.OK);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('0 lines');
    expect(none.stderr).toContain('only gold ones without --all');
  });

  it('exits 4 for a batch of another key, naming it, and writes no file', async () => {
    const theirs = await batch('/v1/chat/completions', OTHER);
    const out = join(dir, 'nope.jsonl');
    const result = await run(['export', theirs, '--format', 'openai-chat', '-o', out]);
    expect(result.code).toBe(EXIT.NOT_FOUND);
    expect(result.stderr).toBe(`vbs: No batch with id ${theirs}.\n`);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 2 for an embeddings batch, a bad format, a missing -o and a bad rating', async () => {
    const embeddings = await batch('/v1/embeddings');
    const refused = await run(['export', embeddings, '--format', 'openai-chat', '-o', '-']);
    expect(refused.code).toBe(EXIT.USAGE);
    expect(refused.stderr).toContain(`Batch ${embeddings} is a /v1/embeddings batch`);
    const id = await batch();
    const format = await run(['export', id, '--format', 'alpaca', '-o', '-']);
    expect(format).toMatchObject({ code: EXIT.USAGE, stderr: 'vbs: --format must be openai-chat or prompt-completion, not "alpaca".\n' });
    expect((await run(['export', id, '--format', 'openai-chat'])).stderr).toContain('Give -o FILE');
    const rating = await run(['export', id, '--format', 'openai-chat', '--min-rating', '9', '-o', '-']);
    expect(rating.code).toBe(EXIT.USAGE);
    expect(rating.stderr).toContain('minRating must be a whole number from 1 to 5');
    expect((await run(['export', '--format', 'openai-chat', '-o', '-'])).code).toBe(EXIT.USAGE);
  });
});
