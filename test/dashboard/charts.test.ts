import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/fixtures.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, runToEnd } from '../helpers/processes.ts';
import { startFleetSystem, type System } from '../helpers/system.ts';
import { CHROMIUM } from './chromium.ts';

const FIXTURE = `${FIXTURES}chat-100.jsonl`;
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const KEY = 'charts-test-key';

/** A chart's legend value of one line, as the page shows it. */
const legendValue = (chart: Locator, label: string) => chart.locator('.u-legend tr.u-series', { hasText: label }).locator('.u-value');

/** Moves the mouse across a chart's plot and reads a line's legend value at each step: what a user hovering the chart sees. */
async function hoverValues(page: Page, chart: Locator, label: string): Promise<string[]> {
  const box = (await chart.locator('.u-over').boundingBox())!;
  const values: string[] = [];
  for (let i = 0; i <= 40; i++) {
    await page.mouse.move(box.x + (box.width * i) / 40, box.y + box.height / 2);
    values.push((await legendValue(chart, label).textContent()) ?? '');
  }
  await page.mouse.move(0, 0);
  return values;
}

const number = (text: string | null) => Number((text ?? '').replace(/[^\d.]/g, '')) || 0;

describe('the dashboard charts in a browser', () => {
  const test = useTestDatabase();
  let system: System;
  let browser: Browser;
  let page: Page;
  const auth = { authorization: `Bearer ${KEY}` };

  async function submit(): Promise<string> {
    const upload = new FormData();
    upload.append('purpose', 'batch');
    upload.append('file', new Blob([await (await import('node:fs/promises')).readFile(FIXTURE)]), 'chat-100.jsonl');
    const file = (await (await fetch(`${system.url}/v1/files`, { method: 'POST', headers: auth, body: upload })).json()) as { id: string };
    const batch = (await (
      await fetch(`${system.url}/v1/batches`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
      })
    ).json()) as { id: string };
    return batch.id;
  }
  const statusOf = async (id: string) =>
    ((await (await fetch(`${system.url}/v1/batches/${id}`, { headers: auth })).json()) as { status: string }).status;

  beforeAll(async () => {
    const build = await runToEnd(BUN, ['scripts/build-dashboard.ts']);
    expect(build.stderr).toBe('');
    system = await startFleetSystem(test().url, { API_KEYS: KEY });
    browser = await chromium.launch(CHROMIUM);
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.addInitScript((key) => {
      localStorage.setItem('vbs.apiKey', key);
      // Every value the progress chart's legend shows for "Done", in order, as the page changes it.
      const done: string[] = [];
      Object.assign(window, { doneValues: done });
      new MutationObserver(() => {
        const value = document.querySelector('[data-chart=progress] .u-legend tr.u-series:nth-child(2) .u-value')?.textContent;
        if (value && value !== '-' && done.at(-1) !== value) done.push(value);
      }).observe(document, { subtree: true, childList: true, characterData: true });
    }, KEY);
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  it("draws the fleet's throughput, queue and each worker's load, and fills them in live as a batch runs", async () => {
    const errors: string[] = [];
    page.on('console', (message) => void (message.type() === 'error' && errors.push(message.text())));
    await page.goto(`${system.url}/#/fleet`);
    const tokens = page.locator('figure[data-chart=tokens]');
    const queue = page.locator('figure[data-chart=queue]');
    const worker = page.locator('figure[data-worker]').first();
    // Nothing ran yet: the throughput chart says so; the worker's chart is there with its capacity.
    await expect.poll(() => tokens.locator('.empty').isVisible()).toBe(true);
    expect(await tokens.locator('.empty').textContent()).toBe('Nothing ran in the last hour.');
    await worker.locator('canvas').waitFor();
    expect(await worker.locator('figcaption').textContent()).toContain('sim-model');
    await expect.poll(async () => number(await legendValue(worker, 'Capacity').textContent())).toBeGreaterThan(0);

    // A batch runs while the page stays open: the charts fill in without a reload.
    const id = await submit();
    await tokens.locator('canvas').waitFor({ timeout: 60_000 });
    await expect.poll(() => legendValue(tokens, 'sim-model').count(), { timeout: 30_000 }).toBe(1);
    await expect.poll(() => statusOf(id), { timeout: 90_000 }).toBe('completed');
    // The worker's heartbeats during the run: hovering its chart shows requests in flight and KV cache in use.
    const inFlight = await hoverValues(page, worker, 'In flight');
    expect(Math.max(...inFlight.map(number))).toBeGreaterThan(0);
    const kv = await hoverValues(page, worker, 'KV cache');
    expect(kv.some((v) => /^\d+(\.\d)?%$/.test(v) && number(v) > 0)).toBe(true);
    // Once a sample after the run is drawn, hovering the throughput chart shows the tokens per second it ran at.
    await expect
      .poll(async () => Math.max(...(await hoverValues(page, tokens, 'sim-model')).map(number)), { timeout: 60_000, interval: 2000 })
      .toBeGreaterThan(0);
    expect(number(await legendValue(queue, 'sim-model').textContent())).toBe(0);
    expect(number(await tokens.getAttribute('data-points'))).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: `${ARTIFACTS}dashboard-fleet.png`, fullPage: true });
    expect(errors).toEqual([]);
    // The workers table has the engine's KV-cache use too, as the engine last reported it.
    await page.goto(`${system.url}/#/workers`);
    await page.waitForSelector('[data-table=workers] tbody tr td code');
    const headers = await page.locator('[data-table=workers] thead th').allTextContents();
    const cells = await page.locator('[data-table=workers] tbody tr').first().locator('td').allTextContents();
    expect(cells[headers.indexOf('KV cache')]).toMatch(/^\d+(\.\d)?%$/);
  });

  it("draws a batch's progress curve, which grows as the batch runs, up to its total", async () => {
    const id = await submit();
    await page.goto(`${system.url}/#/batches/${id}`);
    const curve = page.locator('figure[data-chart=progress]');
    await curve.locator('canvas').waitFor({ timeout: 60_000 });
    await page.waitForSelector('[data-field=status] [data-status=completed]', { timeout: 90_000 });
    await expect.poll(() => legendValue(curve, 'Done').textContent(), { timeout: 10_000 }).toBe('100');
    // Read as progress events came: the legend counted up on the way, never down.
    const seen = (await page.evaluate(() => (window as unknown as { doneValues: string[] }).doneValues)).map(number);
    expect(seen.at(-1)).toBe(100);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(number(await curve.getAttribute('data-points'))).toBeGreaterThanOrEqual(3);
    await page.screenshot({ path: `${ARTIFACTS}dashboard-progress-curve.png`, fullPage: true });
  });
});
