import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from '../helpers/fixtures.ts';
import { chromium, type Browser, type Page } from 'playwright-core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, runToEnd } from '../helpers/processes.ts';
import { startFleetSystem, type System } from '../helpers/system.ts';
import { CHROMIUM } from './chromium.ts';

const FIXTURE = `${FIXTURES}chat-100.jsonl`;
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const KEY = 'dashboard-test-key';

describe('the dashboard in a browser', () => {
  const test = useTestDatabase();
  let system: System;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const build = await runToEnd(BUN, ['scripts/build-dashboard.ts']);
    expect(build.stderr).toBe('');
    system = await startFleetSystem(test().url, { API_KEYS: KEY });
    browser = await chromium.launch(CHROMIUM);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // Records every status the batch page shows, in order, as the page changes it.
    await page.addInitScript(() => {
      const seen: string[] = [];
      Object.assign(window, { seenStatuses: seen });
      new MutationObserver(() => {
        const status = document.querySelector('[data-field=status] [data-status]')?.getAttribute('data-status');
        if (status && seen.at(-1) !== status) seen.push(status);
      }).observe(document, { subtree: true, childList: true });
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  it('asks for the API key once and keeps it in the browser', async () => {
    await page.goto(`${system.url}/`);
    const dialog = page.locator('dialog.key-dialog');
    await dialog.waitFor({ state: 'visible' });
    await expect.poll(() => dialog.locator('.reason').textContent()).toContain('needs an API key');
    await dialog.locator('input[name=apiKey]').fill(KEY);
    await dialog.locator('button[type=submit]').click();
    await page.waitForSelector('.connection[data-state=live]');
    expect(await page.evaluate(() => localStorage.getItem('vbs.apiKey'))).toBe(KEY);
    await page.reload();
    await page.waitForSelector('.connection[data-state=live]');
    expect(await page.locator('dialog.key-dialog').isVisible()).toBe(false);
  });

  it('submits a batch and shows it reach completed live, with its files downloadable', async () => {
    await page.goto(`${system.url}/#/`);
    await page.evaluate(() => ((window as unknown as { seenStatuses: string[] }).seenStatuses.length = 0));
    await page.setInputFiles('form.submit-form input[type=file]', FIXTURE);
    await page.click('form.submit-form button[type=submit]');
    await page.waitForURL(/#\/batches\/batch_/);
    const id = decodeURIComponent(page.url().split('#/batches/')[1]!);
    await page.waitForSelector('[data-field=status] [data-status=completed]', { timeout: 60_000 });
    // The page never polls a batch: each status after the first came from the batchProgress subscription, which sends every one.
    const seen = await page.evaluate(() => (window as unknown as { seenStatuses: string[] }).seenStatuses);
    expect(seen.slice(-2)).toEqual(['finalizing', 'completed']);
    expect(['validating', 'in_progress']).toContain(seen[0]);
    await expect.poll(() => page.locator('[data-field=done]').textContent()).toBe('100/100');
    expect(await page.locator('h1 code').textContent()).toBe(id);
    await page.screenshot({ path: `${ARTIFACTS}dashboard-batch.png`, fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a.download:text("output.jsonl")')]);
    const lines = readFileSync((await download.path())!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string; response: { status_code: number } });
    expect(lines).toHaveLength(100);
    expect(lines[0]).toMatchObject({ custom_id: 'cand-0000', response: { status_code: 200 } });
  });

  it('retries a dead result handler run from the batch page', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const upload = new FormData();
    upload.append('purpose', 'batch');
    // Two short requests (16 tokens at most), so the batch ends in a moment.
    const short = readFileSync(FIXTURE, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => (JSON.parse(l) as { body: { max_tokens?: number } }).body.max_tokens === 16);
    upload.append('file', new Blob([short.slice(0, 2).join('\n')]), 'two.jsonl');
    const file = (await (await fetch(`${system.url}/v1/files`, { method: 'POST', headers: auth, body: upload })).json()) as { id: string };
    const created = (await (
      await fetch(`${system.url}/v1/batches`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          handlers: { webhook: { url: 'http://127.0.0.1:9/hook', secret: 'a-secret-of-16-chars' } },
        }),
      })
    ).json()) as { id: string };
    await page.goto(`${system.url}/#/batches/${created.id}`);
    await page.waitForSelector('[data-table=handler-runs]', { timeout: 60_000 });
    // Spare the test the backoff of five failed deliveries: the run is dead as the runner would leave it.
    const db = test().database;
    await db.db.execute(
      sql`update handler_runs set status = 'dead', attempts = max_attempts, last_error = 'connect ECONNREFUSED 127.0.0.1:9', lease_owner = null where batch_id = ${created.id}`,
    );
    await page.reload();
    const row = page.locator('[data-table=handler-runs] tbody tr').first();
    await expect.poll(() => row.textContent()).toContain('ECONNREFUSED');
    expect(await row.locator('[data-status]').getAttribute('data-status')).toBe('dead');
    await row.locator('button:text("Retry")').click();
    await expect.poll(() => row.locator('[data-status]').getAttribute('data-status')).not.toBe('dead');
    await page.screenshot({ path: `${ARTIFACTS}dashboard-handler-runs.png`, fullPage: true });
    const [run] = await rows<{ attempts: number; status: string }>(
      db.db,
      sql`select attempts, status from handler_runs where batch_id = ${created.id}`,
    );
    expect(run!.attempts).toBeLessThan(5);
  });

  it('lists the batch in the history, filtered by status, and the worker and model of the fleet', async () => {
    await page.goto(`${system.url}/#/history?status=completed`);
    await page.waitForSelector('[data-table=history] tbody a');
    expect(await page.locator('[data-table=history] tbody tr').count()).toBe(2);
    await page.goto(`${system.url}/#/history?status=failed`);
    await page.waitForSelector('[data-table=history] td.empty');

    await page.goto(`${system.url}/#/workers`);
    await page.waitForSelector('[data-table=workers] tbody tr td code');
    const worker = await page.locator('[data-table=workers] tbody tr').first().textContent();
    expect(worker).toContain('sim-model');
    expect(worker).toMatch(/\ds ago/);
    await page.screenshot({ path: `${ARTIFACTS}dashboard-workers.png`, fullPage: true });

    await page.goto(`${system.url}/#/models`);
    await page.waitForSelector('[data-table=models] tbody a');
    expect(await page.locator('[data-table=models] tbody tr').first().textContent()).toContain('sim-model');
  });

  it('pauses and resumes a running batch from its page, shows a pause made elsewhere live, and cancels it paused', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const upload = new FormData();
    upload.append('purpose', 'batch');
    upload.append('file', new Blob([readFileSync(FIXTURE)]), 'chat-100.jsonl');
    const file = (await (await fetch(`${system.url}/v1/files`, { method: 'POST', headers: auth, body: upload })).json()) as { id: string };
    const { id } = (await (
      await fetch(`${system.url}/v1/batches`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
      })
    ).json()) as { id: string };
    const pausedAt = async () =>
      ((await (await fetch(`${system.url}/v1/batches/${id}`, { headers: auth })).json()) as { paused_at: number | null }).paused_at;
    await page.goto(`${system.url}/#/batches/${id}`);
    await page.waitForSelector('[data-field=status] [data-status=in_progress]', { timeout: 60_000 });

    await page.click('button:text("Pause batch")');
    await page.waitForSelector('[data-field=paused]');
    await page.waitForSelector('button:text("Resume batch")');
    expect(await pausedAt()).toEqual(expect.any(Number));
    expect(await page.locator('[data-field=status] [data-status]').getAttribute('data-status')).toBe('in_progress');
    await page.screenshot({ path: `${ARTIFACTS}dashboard-paused.png`, fullPage: true });

    await page.click('button:text("Resume batch")');
    await page.waitForSelector('button:text("Pause batch")');
    expect(await page.locator('[data-field=paused]').count()).toBe(0);
    expect(await pausedAt()).toBeNull();

    // Paused through the API, not the page: the batchProgress subscription tells the page.
    await fetch(`${system.url}/v1/batches/${id}/pause`, { method: 'POST', headers: auth });
    await page.waitForSelector('[data-field=paused]');
    await page.waitForSelector('button:text("Resume batch")');

    await page.click('button:text("Cancel batch")');
    await page.waitForSelector('[data-field=status] [data-status=cancelled]', { timeout: 30_000 });
    expect(await page.locator('button:text("Resume batch")').count()).toBe(0);
  });
});
