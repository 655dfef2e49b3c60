// The result viewer's saves: each key press becomes one annotateResult, sent one after another
// in the order pressed. Everything a save sends (the line, its custom_id, the change) is taken
// when the key is pressed, so a save waiting behind a slow one still goes out after j, k or
// Next has moved the page on; a save that fails is reported and stays reported until a later
// save of that line goes through.
import type { Api } from '../api.ts';
import { h, replace } from '../dom.ts';
import { ANNOTATE_RESULT, type Annotation, type AnnotationPatch, type Result } from '../queries.ts';

/** What {@link createSaveQueue} needs: where to save, and what to do with each saved result. */
export interface SaveQueueOptions {
  api: Api;
  batchId: string;
  /** The result as the gateway has it after a save (the viewer shows it if it is on the page). */
  saved(result: Result): void;
}

/** The queue, and the two elements that report on it: the status line and the list of refused saves. */
export interface SaveQueue {
  /** `Saving #5...`, then `Saved #5`. */
  notice: HTMLElement;
  /** One row per line whose last save failed, with its custom_id and why; hidden while empty. */
  unsaved: HTMLElement;
  /**
   * Queues the change `change` computes for `result`. It computes from the result as the saves
   * already queued for that line will leave it, so g pressed twice quickly gives the star and takes
   * it away again; null saves nothing.
   */
  save(result: Result, change: (r: Result) => AnnotationPatch | null): void;
}

const NO_ANNOTATION: Annotation = {
  gold: null,
  rating: null,
  correction: null,
  labels: null,
  note: null,
  annotator: '',
  source: 'dashboard',
  updatedAt: '',
};

/** The result as it will be once `patch` is saved (what the next key press computes from). */
const patched = (result: Result, patch: AnnotationPatch): Result => ({
  ...result,
  annotation: { ...(result.annotation ?? NO_ANNOTATION), ...patch },
});

/** Creates the save queue of one batch's viewer. */
export function createSaveQueue({ api, batchId, saved }: SaveQueueOptions): SaveQueue {
  const notice = h('span', { class: 'muted', 'data-field': 'saved', role: 'status' });
  const unsaved = h('ul', { class: 'error unsaved', role: 'alert', 'data-field': 'unsaved', hidden: true });
  /** Per line with saves still to go: the result as they will leave it, and how many there are. */
  const ahead = new Map<number, { result: Result; count: number }>();
  /** Per line whose last save failed: the message shown. */
  const refused = new Map<number, string>();
  let last: Promise<void> = Promise.resolve();

  function report() {
    replace(
      unsaved,
      [...refused.values()].map((message) => h('li', null, message)),
    );
    unsaved.hidden = refused.size === 0;
  }

  async function send(line: number, customId: string, patch: AnnotationPatch) {
    notice.textContent = `Saving #${line}...`;
    try {
      const { annotateResult } = await api.graphql<{ annotateResult: Result }>(ANNOTATE_RESULT, {
        input: { batchId, customId, ...patch, source: 'dashboard' },
      });
      notice.textContent = `Saved #${line}`;
      if (refused.delete(line)) report();
      saved(annotateResult);
    } catch (error) {
      notice.textContent = '';
      refused.set(line, `Result #${line} (${customId}) was not saved: ${error instanceof Error ? error.message : String(error)}`);
      report();
    } finally {
      const queued = ahead.get(line);
      if (queued && --queued.count === 0) ahead.delete(line);
    }
  }

  return {
    notice,
    unsaved,
    save(result, change) {
      const queued = ahead.get(result.line);
      const from = queued?.result ?? result;
      const patch = change(from);
      if (!patch) return;
      const { line, customId } = from;
      ahead.set(line, { result: patched(from, patch), count: (queued?.count ?? 0) + 1 });
      last = last.then(() => send(line, customId, patch));
    },
  };
}
