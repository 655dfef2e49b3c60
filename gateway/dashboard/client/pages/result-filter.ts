// The result viewer's filter form: every field of GraphQL's ResultFilter, read on each change.
import { debounce } from '../context.ts';
import { h } from '../dom.ts';
import { RESULT_STATUSES, type ResultFilter } from '../queries.ts';

/** A select of "any" and the given choices. */
const choice = (name: string, label: string, options: [string, string][]) =>
  h(
    'label',
    null,
    `${label} `,
    h(
      'select',
      { name },
      h('option', { value: '' }, 'any'),
      options.map(([value, text]) => h('option', { value }, text)),
    ),
  );

/** Reads the form as a ResultFilter, leaving out the fields that do not filter. */
function read(form: HTMLFormElement): ResultFilter {
  const data = new FormData(form);
  const text = (name: string) => String(data.get(name) ?? '').trim();
  const filter: ResultFilter = {};
  const status = data.getAll('status').map(String);
  if (status.length) filter.status = status;
  if (text('gold')) filter.gold = text('gold') === 'true';
  if (text('annotated')) filter.annotated = text('annotated') === 'true';
  if (text('minRating')) filter.minRating = Number(text('minRating'));
  if (text('label')) filter.label = text('label');
  if (text('search')) filter.search = text('search');
  return filter;
}

/**
 * The filter form; `onChange` gets the filter when a box or choice changes at once, and when
 * the label or search text changes after a pause in typing (or on Enter).
 */
export function createResultFilter(onChange: (filter: ResultFilter) => void): HTMLFormElement {
  const form = h(
    'form',
    { class: 'filters result-filters', 'aria-label': 'Filter results' },
    h(
      'fieldset',
      { class: 'statuses' },
      h('legend', null, 'Status'),
      RESULT_STATUSES.map((status) => h('label', null, h('input', { type: 'checkbox', name: 'status', value: status }), ` ${status}`)),
    ),
    choice('gold', 'Gold', [
      ['true', 'gold'],
      ['false', 'not gold'],
    ]),
    choice('annotated', 'Annotated', [
      ['true', 'annotated'],
      ['false', 'not annotated'],
    ]),
    choice(
      'minRating',
      'Rating at least',
      [1, 2, 3, 4, 5].map((n) => [String(n), String(n)]),
    ),
    h('label', null, 'Label ', h('input', { type: 'text', name: 'label', size: 12 })),
    h('input', { type: 'search', name: 'search', placeholder: 'Search prompts and answers', size: 28 }),
  );
  const changed = () => onChange(read(form));
  const typed = debounce(changed, 300);
  form.addEventListener('change', (event) => {
    if ((event.target as HTMLInputElement).type !== 'text' && (event.target as HTMLInputElement).type !== 'search') changed();
  });
  form.addEventListener('input', (event) => {
    const type = (event.target as HTMLInputElement).type;
    if (type === 'text' || type === 'search') typed();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    changed();
  });
  return form;
}
