// The batch page's result viewer: a batch's results 50 at a time, filtered, annotated from the
// keyboard, with other reviewers' changes arriving live, and an export of the gold ones.
import type { Context, Scope } from '../context.ts';
import { h, replace } from '../dom.ts';
import { downloadLink } from '../downloads.ts';
import {
  EXPORT_DATASET,
  RESULT_ANNOTATIONS,
  RESULTS,
  type AnnotationPatch,
  type FileInfo,
  type Result,
  type ResultFilter,
  type ResultPage,
} from '../queries.ts';
import { createEditor } from './result-editor.ts';
import { createResultFilter } from './result-filter.ts';
import { bindResultKeys } from './result-keys.ts';
import { createSaveQueue } from './result-saves.ts';
import { answerText, resultView } from './result-view.ts';

const PAGE_SIZE = 50;
const FINAL = ['completed', 'failed', 'expired', 'cancelled'];

/** The viewer, and how the batch page puts it back after each render of its own. */
export interface ResultsViewer {
  element: HTMLElement;
  /**
   * Appends the viewer to the page again (the page's render replaced it), gives the focus back
   * to what had it (a reviewer's open editor), and reads the results again once the batch ended.
   */
  place(root: HTMLElement, focused: Element | null, batchStatus: string): void;
}

/** Creates the result viewer of one batch; it reads its first page at once and stops with `scope`. */
export function createResultsViewer({ api, live }: Context, batchId: string, scope: Scope): ResultsViewer {
  let filter: ResultFilter = {};
  /** The `after` cursor of each page up to the shown one: Previous goes back one. */
  const afters: (string | null)[] = [null];
  let results: Result[] = [];
  let next: string | null = null;
  let focused = -1;
  let editing: { line: number; element: HTMLElement } | null = null;
  let reads = 0;
  let lastStatus: string | null = null;

  const list = h('div', { class: 'results', 'data-list': 'results' });
  const counter = h('span', { class: 'muted', 'data-field': 'results-count' }, 'Reading results...');
  const saves = createSaveQueue({ api, batchId, saved: (result) => show(result) });
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });
  const previousButton = h('button', { type: 'button', class: 'secondary', disabled: true }, '← Previous');
  const nextButton = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Next →');
  const exportButton = h('button', { type: 'button', class: 'secondary', 'data-action': 'export' }, 'Export gold (OpenAI chat JSONL)');
  const exported = h('span', { class: 'exported' });
  const element = h(
    'section',
    { class: 'result-viewer' },
    h('h2', null, 'Results'),
    createResultFilter((changed) => {
      filter = changed;
      afters.splice(1);
      void read('first');
    }),
    h(
      'div',
      { class: 'actions' },
      previousButton,
      nextButton,
      counter,
      h('span', { class: 'spacer' }),
      saves.notice,
      exportButton,
      exported,
    ),
    h(
      'p',
      { class: 'muted keys' },
      'Keys: j / k next / previous result · g gold star · 1–5 rating (again: none) · e correction · l labels',
    ),
    problem,
    saves.unsaved,
    list,
  );

  const fail = (error: unknown) => {
    problem.hidden = false;
    problem.textContent = error instanceof Error ? error.message : String(error);
  };
  const cardOf = (line: number) => list.querySelector<HTMLElement>(`article.result[data-line="${line}"]`);

  function focus(index: number, scroll = true) {
    focused = index;
    for (const card of list.querySelectorAll<HTMLElement>('article.result')) {
      const on = card.dataset.line === String(results[index]?.line);
      card.classList.toggle('focused', on);
      card.toggleAttribute('aria-current', on);
      if (on && scroll) card.scrollIntoView({ block: 'nearest' });
    }
  }

  /** Reads the shown page; `at` says which result gets the focus. */
  async function read(at: 'first' | 'last' | 'same') {
    const mine = ++reads;
    const keep = results[focused]?.line;
    let page: ResultPage | undefined;
    try {
      const { batch } = await api.graphql<{ batch: { results: ResultPage } | null }>(RESULTS, {
        id: batchId,
        first: PAGE_SIZE,
        after: afters.at(-1),
        filter,
      });
      page = batch?.results;
    } catch (error) {
      if (mine === reads) fail(error);
      return;
    }
    if (mine !== reads || scope.closed || !page) return;
    problem.hidden = true;
    closeEditor();
    results = page.edges.map((edge) => edge.node);
    next = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    const start = (afters.length - 1) * PAGE_SIZE;
    counter.textContent = results.length
      ? `${start + 1}–${start + results.length} of ${page.totalCount}`
      : page.totalCount
        ? `none past ${page.totalCount}`
        : 'No results match.';
    previousButton.disabled = afters.length === 1;
    nextButton.disabled = next === null;
    replace(list, results.map(resultView));
    const index = at === 'last' ? results.length - 1 : at === 'same' ? results.findIndex((r) => r.line === keep) : 0;
    focus(index, at !== 'same' && focused !== -1);
  }

  /** Shows a result as it is now (after a save here, or a change anywhere else). */
  function show(result: Result) {
    const index = results.findIndex((r) => r.line === result.line);
    const card = cardOf(result.line);
    if (index === -1 || !card) return;
    results[index] = result;
    const fresh = resultView(result);
    if (editing?.line === result.line) fresh.querySelector('.editor')?.append(editing.element);
    card.replaceWith(fresh);
    focus(focused, false);
    editing?.element.querySelector<HTMLElement>('textarea, input')?.focus();
  }

  /** Saves a change of the focused result (see result-saves.ts: it is sent whatever page is shown by then). */
  function annotate(change: (r: Result) => AnnotationPatch | null) {
    const result = results[focused];
    if (result) saves.save(result, change);
  }

  function closeEditor() {
    editing?.element.remove();
    editing = null;
  }

  function edit(kind: 'correction' | 'labels') {
    const result = results[focused];
    if (!result) return;
    closeEditor();
    const editor = createEditor({
      kind,
      initial: kind === 'correction' ? answerText(result) : (result.annotation?.labels ?? []).join(', '),
      save: (patch) => {
        closeEditor();
        // The result the editor was opened on, even if a click has highlighted another since.
        if (patch) saves.save(result, () => patch);
      },
      cancel: closeEditor,
    });
    editing = { line: result.line, element: editor };
    cardOf(result.line)?.querySelector('.editor')?.append(editor);
  }

  /** j and k step through the page, and across to the next or previous one at its ends. */
  function move(step: 1 | -1) {
    const to = focused + step;
    if (to >= 0 && to < results.length) return focus(to);
    if (to >= results.length && next !== null) {
      afters.push(next);
      void read('first');
    } else if (to < 0 && afters.length > 1) {
      afters.pop();
      void read('last');
    }
  }

  previousButton.addEventListener('click', () => (afters.length > 1 ? (afters.pop(), void read('first')) : undefined));
  nextButton.addEventListener('click', () => (next === null ? undefined : (afters.push(next), void read('first'))));
  list.addEventListener('click', (event) => {
    const card = (event.target as Element).closest<HTMLElement>('article.result');
    if (card)
      focus(
        results.findIndex((r) => String(r.line) === card.dataset.line),
        false,
      );
  });
  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    try {
      const { exportDataset: file } = await api.graphql<{ exportDataset: FileInfo }>(EXPORT_DATASET, { batchId });
      const link = downloadLink(api, file, file.filename);
      replace(exported, link);
      link.querySelector('a')?.click();
    } catch (error) {
      replace(exported, h('span', { class: 'error' }, (error as Error).message));
    } finally {
      exportButton.disabled = false;
    }
  });

  scope.add(
    bindResultKeys(element, {
      move,
      gold: () => annotate((r) => ({ gold: r.annotation?.gold ? null : true })),
      rate: (n) => annotate((r) => ({ rating: r.annotation?.rating === n ? null : n })),
      edit,
    }),
  );
  scope.add(
    live.subscribe<{ resultAnnotations: Result }>(
      RESULT_ANNOTATIONS,
      { batchId },
      { next: ({ resultAnnotations }) => show(resultAnnotations), error: fail },
    ),
  );
  void read('first');

  return {
    element,
    place(root, active, batchStatus) {
      root.append(element);
      if (active instanceof HTMLElement && element.contains(active)) active.focus({ preventScroll: true });
      // Lines stay pending until the batch ends; then its results are all there to read.
      if (lastStatus !== null && lastStatus !== batchStatus && FINAL.includes(batchStatus) && !editing) void read('same');
      lastStatus = batchStatus;
    },
  };
}
