import { showError, type Page } from '../context.ts';
import { badge, h, replace, table } from '../dom.ts';
import { count, duration, time } from '../format.ts';
import { HISTORY, STATS, type BatchSummary } from '../queries.ts';

const STATUSES = ['validating', 'in_progress', 'finalizing', 'completed', 'failed', 'expired', 'cancelling', 'cancelled'];

interface Stats {
  batches: number;
  requests: number;
  succeeded: number;
  failed: number;
  successRate: number | null;
  promptTokens: number;
  completionTokens: number;
  meanDurationSeconds: number | null;
}

const endedAt = (b: BatchSummary) => b.completedAt ?? b.failedAt ?? b.expiredAt ?? b.cancelledAt;

function row(b: BatchSummary) {
  const end = endedAt(b);
  return [
    h('a', { href: `#/batches/${b.id}` }, b.id),
    badge(b.status),
    b.model ?? 'mixed',
    `${count(b.requestCounts.completed + b.requestCounts.failed)}/${count(b.requestCounts.total)}`,
    count(b.requestCounts.failed),
    time(b.createdAt),
    end ? duration((new Date(end).getTime() - new Date(b.createdAt).getTime()) / 1000) : '-',
  ];
}

/** Every batch, newest first, filtered by status and model (kept in the address, so a filtered view can be shared), with totals. */
export const history: Page = async ({ api }, root, params, scope) => {
  const status = h(
    'select',
    { name: 'status' },
    h('option', { value: '' }, 'any status'),
    STATUSES.map((s) => h('option', { value: s }, s.replace('_', ' '))),
  );
  status.value = params.status ?? '';
  const model = h('input', { type: 'text', name: 'model', placeholder: 'any model', value: params.model ?? '' });
  const filters = h(
    'form',
    { class: 'filters', 'aria-label': 'Filters' },
    h('label', null, 'Status ', status),
    h('label', null, 'Model ', model),
    h('button', { type: 'submit' }, 'Filter'),
  );
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    if (status.value) query.set('status', status.value);
    if (model.value.trim()) query.set('model', model.value.trim());
    location.hash = `#/history${query.size ? `?${query}` : ''}`;
  });
  status.addEventListener('change', () => filters.requestSubmit());
  const summary = h('p', { class: 'stats' });
  const list = h('div');
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  replace(root, h('h1', null, 'History'), summary, filters, list, more);

  const variables = { status: params.status ? [params.status] : null, model: params.model || null };
  const rows: BatchSummary[] = [];
  let cursor: string | null = null;
  async function page() {
    try {
      const { batches } = await api.graphql<{
        batches: { nodes: BatchSummary[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };
      }>(HISTORY, { ...variables, after: cursor });
      if (scope.closed) return;
      rows.push(...batches.nodes);
      cursor = batches.pageInfo.endCursor;
      more.hidden = !batches.pageInfo.hasNextPage;
      replace(
        list,
        table(['Batch', 'Status', 'Model', 'Done', 'Failed', 'Created', 'Took'], rows.map(row), 'No batches match.', {
          'data-table': 'history',
        }),
      );
    } catch (error) {
      showError(list, error);
    }
  }
  more.addEventListener('click', () => void page());

  const stats = api.graphql<{ batchStats: Stats }>(STATS).then(({ batchStats: s }) => {
    if (scope.closed) return;
    replace(
      summary,
      `${count(s.batches)} batches, ${count(s.requests)} requests: ${count(s.succeeded)} succeeded, ${count(s.failed)} failed`,
      s.successRate === null ? '' : ` (${(s.successRate * 100).toFixed(1)}% success)`,
      `; ${count(s.promptTokens)} prompt and ${count(s.completionTokens)} completion tokens`,
      s.meanDurationSeconds === null ? '' : `; a completed batch took ${duration(s.meanDurationSeconds)} on average.`,
    );
  });
  await Promise.all([page(), stats.catch(() => {})]);
};
