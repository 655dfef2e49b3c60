import { showError, type Page } from '../context.ts';
import { badge, h, replace, table, type Child } from '../dom.ts';
import { downloadLink } from '../downloads.ts';
import { count, time, until } from '../format.ts';
import { createBatchCurve } from '../batch-curve.ts';
import { createProgressView } from '../progress.ts';
import { createResultsViewer, type ResultsViewer } from './results.ts';
import {
  BATCH,
  BATCH_PROGRESS,
  CANCEL_BATCH,
  PAUSE_BATCH,
  RESUME_BATCH,
  RETRY_BATCH,
  RETRY_HANDLER_RUN,
  type BatchDetail,
  type Progress,
} from '../queries.ts';
import type { Context, Scope } from '../context.ts';

const FINAL = ['completed', 'failed', 'expired', 'cancelled'];
/** The statuses a batch may be paused (and resumed) in. */
const PAUSABLE = ['validating', 'in_progress'];

/** Label and value rows. */
const facts = (rows: [string, Child][]) =>
  h(
    'dl',
    { class: 'facts' },
    rows.map(([label, value]) => [h('dt', null, label), h('dd', null, value)]),
  );

function actionButton(label: string, run: () => Promise<unknown>, after: () => void): HTMLButtonElement {
  const button = h('button', { type: 'button' }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await run();
      after();
    } catch (error) {
      button.after(h('span', { class: 'error' }, ` ${(error as Error).message}`));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function handlerRuns({ api }: Context, b: BatchDetail, reload: () => void): Child {
  if (!b.handlerRuns.length)
    return h(
      'p',
      { class: 'muted' },
      FINAL.includes(b.status) ? 'This batch asked for no result handlers.' : 'Result handlers run once the batch ends.',
    );
  return table(
    ['Handler', 'Event', 'Status', 'Attempts', 'Last error', 'Next attempt', ''],
    b.handlerRuns.map((run) => [
      run.handler,
      run.event,
      badge(run.status),
      `${run.attempts}/${run.maxAttempts}`,
      run.lastError ?? '',
      run.status === 'queued' ? until(run.nextAttemptAt) : run.finishedAt ? `finished ${time(run.finishedAt)}` : '',
      run.status === 'dead' ? actionButton('Retry', () => api.graphql(RETRY_HANDLER_RUN, { id: run.id }), reload) : '',
    ]),
    '',
    { 'data-table': 'handler-runs' },
  );
}

function render(context: Context, root: HTMLElement, b: BatchDetail, progress: ReturnType<typeof createProgressView>, reload: () => void) {
  const { api } = context;
  const ended = FINAL.includes(b.status);
  const timeline: [string, string | null][] = [
    ['Created', b.createdAt],
    ['In progress', b.inProgressAt],
    ['Finalizing', b.finalizingAt],
    ['Completed', b.completedAt],
    ['Failed', b.failedAt],
    ['Cancelling', b.cancellingAt],
    ['Cancelled', b.cancelledAt],
    ['Expired', b.expiredAt],
    ['Paused', b.pausedAt],
  ];
  const actions: Child[] = [];
  if (PAUSABLE.includes(b.status)) {
    actions.push(
      b.pausedAt
        ? actionButton('Resume batch', () => api.graphql(RESUME_BATCH, { id: b.id }), reload)
        : actionButton('Pause batch', () => api.graphql(PAUSE_BATCH, { id: b.id }), reload),
    );
  }
  if (!ended) actions.push(actionButton('Cancel batch', () => api.graphql(CANCEL_BATCH, { id: b.id }), reload));
  if (ended && b.requestCounts.failed > 0) {
    actions.push(
      actionButton(
        'Retry failed requests',
        async () => {
          const { retryBatch } = await api.graphql<{ retryBatch: { id: string } }>(RETRY_BATCH, { id: b.id });
          location.hash = `#/batches/${retryBatch.id}`;
        },
        () => {},
      ),
    );
  }
  const files: Child[] = [
    b.inputFile && h('li', null, 'Input: ', downloadLink(api, b.inputFile, b.inputFile.filename)),
    b.outputFile && h('li', null, 'Output: ', downloadLink(api, b.outputFile, 'output.jsonl')),
    b.errorFile && h('li', null, 'Errors: ', downloadLink(api, b.errorFile, 'errors.jsonl')),
  ];
  replace(
    root,
    h(
      'h1',
      null,
      'Batch ',
      h('code', null, b.id),
      ' ',
      h('span', { 'data-field': 'status' }, badge(b.status)),
      b.pausedAt && PAUSABLE.includes(b.status) ? h('span', { 'data-field': 'paused' }, ' ', badge('paused')) : null,
    ),
    h('div', { class: 'actions' }, actions),
    h('section', null, h('h2', null, 'Progress'), progress.element),
    h(
      'section',
      { class: 'columns' },
      facts([
        [
          'Requests',
          `${count(b.requestCounts.total)} total, ${count(b.requestCounts.completed)} completed, ${count(b.requestCounts.failed)} failed`,
        ],
        ['Tokens', `${count(b.promptTokens)} prompt, ${count(b.completionTokens)} completion`],
        ['Model', b.model ?? 'mixed'],
        ['Endpoint', b.endpoint],
        ['Priority', String(b.priority)],
        ['Window', `${b.completionWindow} (expires ${time(b.expiresAt)})`],
        ...(ended
          ? []
          : ([
              ['Queue position', b.queuePosition === null ? '-' : String(b.queuePosition)],
              ['Estimated done', until(b.estimatedCompletionAt)],
            ] as [string, Child][])),
        ...(b.retriedFrom ? ([['Retries', h('a', { href: `#/batches/${b.retriedFrom}` }, b.retriedFrom)]] as [string, Child][]) : []),
        ...(b.metadata ? Object.entries(b.metadata).map(([k, v]) => [`metadata.${k}`, v] as [string, Child]) : []),
      ]),
      facts(timeline.filter(([, at]) => at).map(([label, at]) => [label, time(at)])),
    ),
    h(
      'section',
      null,
      h('h2', null, 'Files'),
      h('ul', { class: 'files' }, files),
      ended ? null : h('p', { class: 'muted' }, 'Output and error files appear when the batch ends.'),
    ),
    b.errors.length
      ? h(
          'section',
          null,
          // A batch stopped over its error budget has one error, about the whole batch; validation's name lines.
          h('h2', null, b.errors.some((e) => e.code === 'too_many_failures') ? 'Why it failed' : `Validation errors (${b.errors.length})`),
          table(
            ['Line', 'Code', 'Parameter', 'Message'],
            b.errors.map((e) => [e.line === null ? '-' : String(e.line), e.code, e.param ?? '', e.message]),
            '',
            { 'data-table': 'errors' },
          ),
        )
      : null,
    h('section', null, h('h2', null, 'Result handlers'), handlerRuns(context, b, reload)),
  );
}

/** One batch: live progress while it runs, then counts, timeline, files, validation errors and handler runs (with retry). */
export const batchPage: Page = async (context, root, { id = '' }, scope: Scope) => {
  let progress: ReturnType<typeof createProgressView> | undefined;
  let curve: ReturnType<typeof createBatchCurve> | undefined;
  let results: ResultsViewer | undefined;
  let subscribed = false;
  // Handler runs change without batch events: read again while one is queued or running.
  let runsPending = false;
  scope.every(5000, () => void (runsPending && load()));
  async function load() {
    let batch: BatchDetail | null;
    try {
      ({ batch } = await context.api.graphql<{ batch: BatchDetail | null }>(BATCH, { id }));
    } catch (error) {
      return showError(root, error);
    }
    if (scope.closed) return;
    if (!batch) return showError(root, `No batch ${id} (batches of other API keys are not visible).`);
    progress ??= createProgressView(batch.requestCounts);
    const active = document.activeElement;
    render(context, root, batch, progress, () => void load());
    results ??= createResultsViewer(context, id, scope);
    results.place(root, active, batch.status);
    curve ??= createBatchCurve(context.api, id, scope);
    progress.element.after(curve.element);
    void curve.refresh();
    runsPending = batch.handlerRuns.some((run) => run.status === 'queued' || run.status === 'running');
    if (!subscribed && !FINAL.includes(batch.status)) {
      subscribed = true;
      let status = batch.status;
      let paused = batch.pausedAt !== null;
      scope.add(
        context.live.subscribe<{ batchProgress: Progress }>(
          BATCH_PROGRESS,
          { id },
          {
            next: ({ batchProgress: p }) => {
              progress!.update(p);
              curve?.refreshSoon();
              const shown = root.querySelector('[data-field=status]');
              if (shown && p.status !== status) replace(shown, badge(p.status));
              // A new status, a pause or a resume changes more than the bar (timeline, files, actions): read the batch again.
              if (p.status !== status || p.paused !== paused || p.final) void load();
              status = p.status;
              paused = p.paused;
            },
            error: (message) => root.prepend(h('p', { class: 'error' }, message)),
          },
        ),
      );
    }
  }
  await load();
};
