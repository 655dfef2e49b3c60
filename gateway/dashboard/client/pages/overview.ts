import { debounce, showError, type Page } from '../context.ts';
import { badge, h, replace, table } from '../dom.ts';
import { count, time, until } from '../format.ts';
import { createProgressView } from '../progress.ts';
import {
  ACTIVE_BATCHES,
  BATCH_EVENTS,
  BATCH_PROGRESS,
  QUEUE_SHARES,
  type BatchSummary,
  type ModelQueue,
  type Progress,
} from '../queries.ts';
import { sharesTable } from './queue-shares.ts';
import { submitForm } from './submit-form.ts';

const batchLink = (id: string) => h('a', { href: `#/batches/${id}` }, id);

/** Running: in flight (queue position 0 with work started), finalizing or cancelling. The rest of the active batches wait in the queue. */
const isRunning = (b: BatchSummary) =>
  b.status === 'finalizing' ||
  b.status === 'cancelling' ||
  (b.status === 'in_progress' && (b.queuePosition === 0 || b.requestCounts.completed + b.requestCounts.failed > 0));

/** The front page: submit a batch, the running batches with live progress, the queue with positions and ETAs, and how the fleet is shared between owners. */
export const overview: Page = async ({ api, live }, root, _params, scope) => {
  const running = h('section', { class: 'running' });
  const queue = h('section', { class: 'queue' });
  const shares = h('section', { class: 'shares' });
  replace(root, h('h1', null, 'Batches'), h('section', null, h('h2', null, 'Submit'), submitForm(api)), running, queue, shares);
  // One live subscription per running batch, kept across refreshes of the list.
  const watched = new Map<string, { stop: () => void; view: ReturnType<typeof createProgressView> }>();
  scope.add(() => {
    for (const w of watched.values()) w.stop();
  });

  async function refreshShares() {
    try {
      const { queueShares } = await api.graphql<{ queueShares: ModelQueue[] }>(QUEUE_SHARES);
      if (!scope.closed) replace(shares, h('h2', null, 'Fair share'), sharesTable(queueShares));
    } catch (error) {
      showError(shares, error);
    }
  }

  async function refresh() {
    void refreshShares();
    let nodes: BatchSummary[];
    try {
      ({
        batches: { nodes },
      } = await api.graphql<{ batches: { nodes: BatchSummary[] } }>(ACTIVE_BATCHES));
    } catch (error) {
      return showError(running, error);
    }
    if (scope.closed) return;
    const now = nodes.filter(isRunning);
    const waiting = nodes.filter((b) => !isRunning(b)).sort((a, b) => (a.queuePosition ?? -1) - (b.queuePosition ?? -1));
    for (const [id, w] of watched) if (!now.some((b) => b.id === id)) w.stop(), watched.delete(id);
    const rows = now.map((b) => {
      let entry = watched.get(b.id);
      if (!entry) {
        const view = createProgressView(b.requestCounts);
        const stop = live.subscribe<{ batchProgress: Progress }>(
          BATCH_PROGRESS,
          { id: b.id },
          {
            next: ({ batchProgress }) => {
              view.update(batchProgress);
              if (batchProgress.final) reload();
            },
          },
        );
        entry = { stop, view };
        watched.set(b.id, entry);
      }
      return [batchLink(b.id), badge(b.status), b.model ?? 'mixed', String(b.priority), entry.view.element];
    });
    replace(
      running,
      h('h2', null, `Running (${now.length})`),
      table(['Batch', 'Status', 'Model', 'Priority', 'Progress'], rows, 'No batch is running.', { 'data-table': 'running' }),
    );
    replace(
      queue,
      h('h2', null, `Queue (${waiting.length})`),
      table(
        ['Position', 'Batch', 'Status', 'Model', 'Priority', 'Requests', 'Estimated done', 'Created'],
        waiting.map((b) => [
          b.queuePosition === null ? '-' : String(b.queuePosition),
          batchLink(b.id),
          badge(b.status),
          b.model ?? 'mixed',
          String(b.priority),
          count(b.requestCounts.total),
          until(b.estimatedCompletionAt),
          time(b.createdAt),
        ]),
        'The queue is empty.',
        { 'data-table': 'queue' },
      ),
    );
  }

  const reload = debounce(() => void refresh(), 300);
  scope.add(live.subscribe(BATCH_EVENTS, {}, { next: reload }));
  // Queue positions, estimates and shares move without events of their own.
  scope.every(10_000, reload);
  await refresh();
};
