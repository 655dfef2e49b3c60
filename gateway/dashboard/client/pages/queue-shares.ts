import { h, table } from '../dom.ts';
import { count } from '../format.ts';
import type { ModelQueue, OwnerShare } from '../queries.ts';

const percent = (fraction: number | null) => (fraction === null ? '-' : `${Math.round(fraction * 100)}%`);

/**
 * An owner's share of the in-flight requests next to its fair share. Marked `below` when it
 * has queued requests and gets less than its due: the one case where the owner waits on others.
 */
function shareCell(o: OwnerShare) {
  const below = o.queuedLines > 0 && (o.share ?? 0) < o.fairShare;
  return h(
    'span',
    {
      class: below ? 'share below' : 'share',
      'data-field': 'share',
      title: below ? 'less than its fair share, with requests waiting' : null,
    },
    percent(o.share ?? 0),
  );
}

/**
 * The fleet's queue per model, shared between owners: each row the caller may see (its own,
 * or every owner's for an administrator), then the model's totals over every owner.
 */
export function sharesTable(queues: ModelQueue[]): HTMLTableElement {
  const rows = queues.flatMap((q) => [
    ...q.owners.map((o) => [
      q.model,
      o.yours ? h('strong', { title: o.owner }, 'you') : h('code', null, o.owner),
      String(o.weight),
      count(o.queuedLines),
      count(o.inFlightLines),
      shareCell(o),
      percent(o.fairShare),
    ]),
    [q.model, h('span', { class: 'muted' }, `all owners (${q.activeOwners})`), '', count(q.queuedLines), count(q.inFlightLines), '', ''],
  ]);
  return table(
    ['Model', 'Owner', 'Weight', 'Queued', 'In flight', 'Share of in flight', 'Fair share'],
    rows,
    'No requests are queued or in flight.',
    { 'data-table': 'shares' },
  );
}
