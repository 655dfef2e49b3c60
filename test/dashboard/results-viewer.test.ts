import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page, type Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setResultMetadata } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, runToEnd } from '../helpers/processes.ts';
import { startFleetSystem, type System } from '../helpers/system.ts';
import { CHROMIUM } from './chromium.ts';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const KEY = 'results-viewer-key';
/** A prompt that would be markup if the page parsed it as HTML. */
const MARKUP = '<img src=x onerror="document.title=`owned`"><b>bold?</b>';

/**
 * 56 chat requests: q-01 to q-55 answer in 4 tokens (q-07 asks about a pineapple, q-09 carries
 * markup), and q-56 asks for more tokens than the simulator's 8,192-token context, which it
 * refuses as vLLM does: that line fails.
 */
function input(): string {
  return Array.from({ length: 56 }, (_, i) => {
    const n = i + 1;
    const topic = n === 7 ? 'a pineapple' : n === 9 ? MARKUP : `item ${n}`;
    return JSON.stringify({
      custom_id: `q-${String(n).padStart(2, '0')}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'sim-model',
        max_tokens: n === 56 ? 100_000 : 4,
        messages: [
          { role: 'system', content: 'You describe things briefly.' },
          { role: 'user', content: `Describe ${topic}.` },
        ],
      },
    });
  }).join('\n');
}

interface Seen {
  customId: string;
  annotation: { gold: boolean | null; rating: number | null; correction: string | null; labels: string[] | null; source: string } | null;
}

describe('the result viewer in a browser', () => {
  const test = useTestDatabase();
  let system: System;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let page: Page;
  let other: Page;
  let id: string;
  const auth = { authorization: `Bearer ${KEY}` };

  async function graphql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    const response = await fetch(`${system.url}/graphql`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data: T; errors?: unknown };
    expect(body.errors).toBeUndefined();
    return body.data;
  }
  /** A result's annotation as the API has it. */
  const stored = async (customId: string) =>
    (
      await graphql<{ batch: { results: { edges: { node: Seen }[] } } }>(
        `query ($id: ID!) { batch(id: $id) { results(first: 500) {
          edges { node { customId annotation { gold rating correction labels source } } } } } }`,
        { id },
      )
    ).batch.results.edges.find((e) => e.node.customId === customId)?.node.annotation;

  async function openPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    contexts.push(context);
    await context.addInitScript((key) => localStorage.setItem('vbs.apiKey', key), KEY);
    const opened = await context.newPage();
    // A step that fails says which, well inside the test's own time.
    opened.setDefaultTimeout(10_000);
    await opened.goto(`${system.url}/#/batches/${id}`);
    await opened.waitForSelector('.connection[data-state=live]');
    await opened.waitForSelector('article.result');
    return opened;
  }
  const card = (on: Page, customId: string): Locator => on.locator('article.result', { has: on.locator(`code:text-is("${customId}")`) });
  const focusedId = (on: Page) => on.locator('article.result.focused [data-field=custom-id]').textContent();
  const shownIds = (on: Page) => on.locator('article.result [data-field=custom-id]').allTextContents();

  beforeAll(async () => {
    const build = await runToEnd(BUN, ['scripts/build-dashboard.ts']);
    expect(build.stderr).toBe('');
    system = await startFleetSystem(test().url, { API_KEYS: KEY });
    const upload = new FormData();
    upload.append('purpose', 'batch');
    upload.append('file', new Blob([input()]), 'viewer.jsonl');
    const file = (await (await fetch(`${system.url}/v1/files`, { method: 'POST', headers: auth, body: upload })).json()) as { id: string };
    ({ id } = (await (
      await fetch(`${system.url}/v1/batches`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
      })
    ).json()) as { id: string });
    const ended = Date.now() + 60_000;
    let status = '';
    while (status !== 'completed' && Date.now() < ended) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      ({ status } = (await (await fetch(`${system.url}/v1/batches/${id}`, { headers: auth })).json()) as { status: string });
    }
    expect(status).toBe('completed');
    expect(await setResultMetadata(test().database.db, { batchId: id, customId: 'q-02', metadata: { topic: 'things', words: 4 } })).toBe(
      true,
    );
    browser = await chromium.launch(CHROMIUM);
    page = await openPage();
    other = await openPage();
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await system?.stop();
  });

  it('shows the first 50 results as conversations, with status, tokens and metadata, markup as text, and pages by cursor', async () => {
    expect(await page.locator('article.result').count()).toBe(50);
    expect(await page.locator('[data-field=results-count]').textContent()).toBe('1–50 of 56');
    const first = card(page, 'q-01');
    expect(await first.locator('.turn[data-role=system] .content').textContent()).toBe('You describe things briefly.');
    expect(await first.locator('.turn[data-role=user] .content').textContent()).toBe('Describe item 1.');
    expect(((await first.locator('.turn.answer[data-role=assistant] .content').textContent()) ?? '').length).toBeGreaterThan(0);
    expect(await first.getAttribute('data-status')).toBe('succeeded');
    expect(await first.locator('[data-field=tokens]').textContent()).toMatch(/^\d+ \+ 4 tokens$/);
    expect(await card(page, 'q-02').locator('[data-field=metadata] dt').allTextContents()).toEqual(['topic', 'words']);
    expect(await card(page, 'q-02').locator('[data-field=metadata] dd').allTextContents()).toEqual(['things', '4']);
    // The prompt's markup is shown as the characters it is, and nothing of it ran.
    const markup = card(page, 'q-09').locator('.turn[data-role=user] .content');
    expect(await markup.textContent()).toBe(`Describe ${MARKUP}.`);
    expect(await markup.locator('img, b').count()).toBe(0);
    expect(await page.title()).not.toBe('owned');

    await page.click('button:text("Next →")');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('51–56 of 56');
    expect(await shownIds(page)).toEqual(['q-51', 'q-52', 'q-53', 'q-54', 'q-55', 'q-56']);
    const failed = card(page, 'q-56');
    expect(await failed.getAttribute('data-status')).toBe('failed');
    expect(await failed.locator('[data-field=error]').textContent()).toMatch(
      /^BadRequestError: max_tokens=100000 cannot be greater than max_model_len/,
    );
    await page.click('button:text("← Previous")');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('1–50 of 56');
  });

  it('filters by status and by a search of the prompts and answers', async () => {
    await page.check('input[name=status][value=failed]');
    await expect.poll(() => shownIds(page)).toEqual(['q-56']);
    await page.check('input[name=status][value=succeeded]');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('1–50 of 56');
    await page.uncheck('input[name=status][value=failed]');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('1–50 of 55');
    await page.uncheck('input[name=status][value=succeeded]');

    await page.fill('input[name=search]', 'PINEAPPLE');
    await expect.poll(() => shownIds(page)).toEqual(['q-07']);
    await page.fill('input[name=search]', '');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('1–50 of 56');
  });

  it('moves with j and k, highlighting the result and scrolling it into view', async () => {
    await page.locator('h1').click();
    expect(await focusedId(page)).toBe('q-01');
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    expect(await focusedId(page)).toBe('q-03');
    await page.keyboard.press('k');
    expect(await focusedId(page)).toBe('q-02');
    for (let i = 0; i < 20; i++) await page.keyboard.press('j');
    expect(await focusedId(page)).toBe('q-22');
    const box = (await page.locator('article.result.focused').boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.y + box.height).toBeLessThanOrEqual(900);
    // Past the page's last result, j goes on to the next page; k from its first comes back.
    for (let i = 0; i < 29; i++) await page.keyboard.press('j');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('51–56 of 56');
    expect(await focusedId(page)).toBe('q-51');
    await page.keyboard.press('k');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('1–50 of 56');
    expect(await focusedId(page)).toBe('q-50');
  });

  it('stars with g, rates with 1–5, saves a correction and labels, and another viewer sees the star live', async () => {
    // A click puts the focus on a result too.
    await card(page, 'q-04').locator('.result-head').click();
    expect(await focusedId(page)).toBe('q-04');
    await page.keyboard.press('j');
    expect(await focusedId(page)).toBe('q-05');
    await page.keyboard.press('g');
    await page.waitForSelector('article.result.focused[data-gold=true]');
    expect(await stored('q-05')).toMatchObject({ gold: true, source: 'dashboard' });
    // The other page only listens: the star comes to it through resultAnnotations.
    await expect.poll(() => card(other, 'q-05').getAttribute('data-gold')).toBe('true');
    expect(await card(other, 'q-05').locator('[data-field=gold]').textContent()).toBe('★ gold');

    await page.keyboard.press('4');
    await expect.poll(() => page.locator('article.result.focused [data-field=rating]').textContent()).toBe('★★★★☆');
    expect(await stored('q-05')).toMatchObject({ gold: true, rating: 4 });

    await page.keyboard.press('e');
    const correction = page.locator('article.result.focused textarea[name=correction]');
    await correction.waitFor();
    expect(await correction.evaluate((el) => el === document.activeElement)).toBe(true);
    await correction.fill('A better answer.');
    await page.keyboard.press('Control+Enter');
    await page.locator('article.result.focused [data-field=correction]').waitFor();
    expect(await page.locator('article.result.focused [data-field=correction] .content').textContent()).toBe('A better answer.');
    expect(await stored('q-05')).toMatchObject({ correction: 'A better answer.' });

    // Typed into the labels field, g, e and l are letters: the star stays, no other editor opens.
    await page.keyboard.press('l');
    const labels = page.locator('article.result.focused input[name=labels]');
    await labels.waitFor();
    await labels.pressSequentially('tone, length, good');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => page.locator('article.result.focused [data-field=labels] .label').allTextContents())
      .toEqual(['tone', 'length', 'good']);
    expect(await stored('q-05')).toMatchObject({ gold: true, rating: 4, labels: ['tone', 'length', 'good'] });

    // Escape leaves a correction as it was.
    await page.keyboard.press('e');
    await correction.waitFor();
    await correction.fill('Not this.');
    await page.keyboard.press('Escape');
    await correction.waitFor({ state: 'detached' });
    expect(await stored('q-05')).toMatchObject({ correction: 'A better answer.' });
    await expect.poll(() => card(other, 'q-05').locator('[data-field=correction] .content').textContent()).toBe('A better answer.');
    await page.screenshot({ path: `${ARTIFACTS}dashboard-results.png`, fullPage: false });

    await page.selectOption('select[name=gold]', 'true');
    await expect.poll(() => shownIds(page)).toEqual(['q-05']);
  });

  it('exports the gold results as an OpenAI chat file and downloads it', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('button[data-action=export]')]);
    const lines = readFileSync((await download.path())!, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { messages: { role: string; content: string }[] });
    expect(lines).toEqual([
      {
        messages: [
          { role: 'system', content: 'You describe things briefly.' },
          { role: 'user', content: 'Describe item 5.' },
          { role: 'assistant', content: 'A better answer.' },
        ],
      },
    ]);
    expect(await page.locator('.exported a.download').textContent()).toBe(download.suggestedFilename());
  });

  it('sends every change in the order pressed, even when j or Previous has left the page before a slow save was sent', async () => {
    await page.selectOption('select[name=gold]', '');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('1–50 of 56');
    // Each annotateResult takes 800 ms to reach the gateway, so the keys pressed after the first
    // change wait in line while the page moves on; reading a page stays quick.
    const slow = async (route: Route) => {
      if (route.request().postData()?.includes('annotateResult')) await new Promise((resolve) => setTimeout(resolve, 800));
      await route.continue();
    };
    await page.route('**/graphql', slow);
    await card(page, 'q-50').locator('.result-head').click();
    await page.keyboard.press('3');
    await page.keyboard.press('g');
    await page.keyboard.press('j');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('51–56 of 56');
    expect(await focusedId(page)).toBe('q-51');
    await expect.poll(() => stored('q-50'), { timeout: 5_000 }).toMatchObject({ gold: true, rating: 3, source: 'dashboard' });

    // g twice is the star given and taken away again: the second press counts from the first's
    // change, not from the result as the page last read it. Then Previous, at once.
    await page.keyboard.press('g');
    await page.keyboard.press('g');
    await page.keyboard.press('2');
    await page.click('button:text("← Previous")');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('1–50 of 56');
    await expect.poll(() => stored('q-51'), { timeout: 5_000 }).toMatchObject({ gold: null, rating: 2 });
    await expect.poll(() => page.locator('[data-field=saved]').textContent(), { timeout: 5_000 }).toMatch(/^Saved #\d+$/);
    await page.unroute('**/graphql', slow);
    // Back on the first page, q-50 shows both of its changes.
    await expect.poll(() => card(page, 'q-50').locator('[data-field=rating]').textContent()).toBe('★★★☆☆');
    expect(await card(page, 'q-50').getAttribute('data-gold')).toBe('true');
    expect(await page.locator('[data-field=unsaved]').isHidden()).toBe(true);
  });

  it('shows a save the gateway refused, with its custom_id, after the page has moved on, until the line is saved', async () => {
    // A proxy in front of the gateway answers 503 while the gateway restarts.
    const down = async (route: Route) => {
      if (!route.request().postData()?.includes('annotateResult')) return route.continue();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await route.fulfill({ status: 503, contentType: 'text/plain', body: 'the gateway is restarting' });
    };
    await page.route('**/graphql', down);
    await card(page, 'q-48').locator('.result-head').click();
    await page.keyboard.press('5');
    await page.click('button:text("Next →")');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('51–56 of 56');
    const unsaved = page.locator('[data-field=unsaved][role=alert]');
    await unsaved.waitFor();
    expect(await unsaved.locator('li').allTextContents()).toEqual([
      expect.stringMatching(/^Result #\d+ \(q-48\) was not saved: the gateway is restarting$/),
    ]);
    expect((await stored('q-48'))?.rating ?? null).toBeNull();
    // Reading a page again leaves the report up.
    await page.click('button:text("← Previous")');
    await expect.poll(() => page.locator('[data-field=results-count]').textContent()).toBe('1–50 of 56');
    expect(await unsaved.isVisible()).toBe(true);

    await page.unroute('**/graphql', down);
    await card(page, 'q-48').locator('.result-head').click();
    await page.keyboard.press('5');
    await unsaved.waitFor({ state: 'hidden' });
    expect(await stored('q-48')).toMatchObject({ rating: 5 });
  });
});
