import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerOfKey } from '../../gateway/auth.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, runToEnd } from '../helpers/processes.ts';
import { startGateway, type GatewayProcess } from '../reliability/harness.ts';
import { CHROMIUM } from './chromium.ts';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

/**
 * The queue view's fair share in a browser. No worker runs: the ranges a worker would hold
 * are set in the database, so the numbers on the page are known exactly.
 */
describe('the fair share in the dashboard queue', () => {
  const test = useTestDatabase();
  let gateway: GatewayProcess;
  let browser: Browser;

  beforeAll(async () => {
    const build = await runToEnd(BUN, ['scripts/build-dashboard.ts']);
    expect(build.stderr).toBe('');
    gateway = await startGateway(test().url, { API_KEYS: 'key-alice,key-bob', ADMIN_API_KEYS: 'key-root' });
    browser = await chromium.launch(CHROMIUM);
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await gateway?.process.stop();
  });

  const call = async (key: string, path: string, init: RequestInit = {}) => {
    const res = await fetch(`${gateway.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) },
    });
    return (await res.json()) as Record<string, unknown>;
  };
  const graphql = (key: string, query: string) =>
    call(key, '/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });

  /** A queued batch of `count` one-line ranges of `fair-model`; a worker holds the first `held` of them. */
  async function queue(key: string, count: number, held: number) {
    const upload = new FormData();
    upload.append('purpose', 'batch');
    const lines = Array.from({ length: count }, (_, i) =>
      JSON.stringify({ custom_id: `r-${i}`, method: 'POST', url: '/v1/embeddings', body: { model: 'fair-model', input: `text ${i}` } }),
    );
    upload.append('file', new Blob([lines.join('\n')]), 'in.jsonl');
    const file = await call(key, '/v1/files', { method: 'POST', body: upload });
    const batch = await call(key, '/v1/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
    });
    await expect.poll(async () => (await call(key, `/v1/batches/${String(batch.id)}`)).status, { timeout: 30_000 }).toBe('in_progress');
    const { db } = test().database;
    await db.execute(sql`update request_ranges set lease_owner = 'worker-test', lease_expires_at = now() + interval '10 minutes', attempts = 1
      where id in (select id from request_ranges where batch_id = ${String(batch.id)} order by first_line limit ${held})`);
  }

  async function pageAs(key: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.addInitScript((k) => localStorage.setItem('vbs.apiKey', k), key);
    await page.goto(`${gateway.url}/#/`);
    return page;
  }
  const sharesRows = (page: Page) => page.locator('[data-table=shares] tbody tr').allTextContents();

  it("shows an owner its own share against its fair share and the model's totals, and nobody else's row", async () => {
    await queue('key-alice', 60, 30);
    await queue('key-bob', 40, 10);
    expect(
      (await graphql('key-root', `mutation { setOwnerWeight(owner: "${await ownerOfKey('key-alice')}", weight: 3) { weight } }`)).data,
    ).toEqual({ setOwnerWeight: { weight: 3 } });

    const page = await pageAs('key-alice');
    await page.waitForSelector('[data-table=shares] tbody tr strong');
    // Model, owner, weight, queued, in flight, share of in flight, fair share.
    expect(await sharesRows(page)).toEqual(['fair-modelyou3303075%75%', 'fair-modelall owners (2)6040']);
    expect(await page.locator('[data-table=shares]').textContent()).not.toContain(await ownerOfKey('key-bob'));
    await page.screenshot({ path: `${ARTIFACTS}dashboard-fair-share.png`, fullPage: true });
    await page.close();
  });

  it('shows an administrator every owner, and marks one that gets less than its due while its requests wait', async () => {
    const [alice, bob] = [await ownerOfKey('key-alice'), await ownerOfKey('key-bob')];
    await graphql('key-root', `mutation { setOwnerWeight(owner: "${alice}", weight: 1) { weight } }`);
    const page = await pageAs('key-root');
    await page.waitForSelector('[data-table=shares] tbody tr code');
    const expected = [`fair-model${alice}1303075%50%`, `fair-model${bob}1301025%50%`].sort();
    expect(await sharesRows(page)).toEqual([...expected, 'fair-modelall owners (2)6040']);
    // Bob has 30 requests waiting and a quarter of the fleet where half is his due.
    expect(await page.locator('[data-table=shares] .share.below').count()).toBe(1);
    expect(await page.locator('[data-table=shares] tbody tr', { has: page.locator('.share.below') }).textContent()).toContain(bob);
    await page.screenshot({ path: `${ARTIFACTS}dashboard-fair-share-admin.png`, fullPage: true });
    await page.close();
  });
});
