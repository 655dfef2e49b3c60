// The result viewer's two editors: the correction (a text area) and the labels (one line,
// comma-separated). Either saves from the keyboard and cancels with Escape.
import { h } from '../dom.ts';
import type { AnnotationPatch } from '../queries.ts';

/** What an editor edits, the text it starts from, and what to do when it closes. */
export interface EditorOptions {
  kind: 'correction' | 'labels';
  initial: string;
  /** Called with the change to save (nothing when the text is as it started). */
  save(patch: AnnotationPatch | null): void;
  cancel(): void;
}

/** Labels as typed: split on commas, trimmed, empty ones and repeats dropped. */
export const parseLabels = (text: string) => [...new Set(text.split(',').map((label) => label.trim()))].filter(Boolean);

/** The change a closed editor saves: empty text clears the field, unchanged text changes nothing. */
function patchOf(kind: EditorOptions['kind'], text: string, initial: string): AnnotationPatch | null {
  if (text === initial) return null;
  if (kind === 'correction') return { correction: text.trim() ? text : null };
  const labels = parseLabels(text);
  return { labels: labels.length ? labels : null };
}

/**
 * An editor, focused, with its keys: the correction saves with Ctrl+Enter (Cmd+Enter on a
 * Mac), since Enter alone is a new line in it; the labels save with Enter. Escape cancels both.
 */
export function createEditor({ kind, initial, save, cancel }: EditorOptions): HTMLElement {
  const field =
    kind === 'correction'
      ? h('textarea', { name: 'correction', rows: 6, 'aria-label': 'Correction' })
      : h('input', { type: 'text', name: 'labels', 'aria-label': 'Labels, comma-separated', placeholder: 'label, another label' });
  field.value = initial;
  const hint =
    kind === 'correction'
      ? 'Ctrl+Enter (⌘+Enter) saves the correction, Esc cancels; empty text removes it.'
      : 'Labels, comma-separated. Enter saves, Esc cancels; empty removes them.';
  field.addEventListener('keydown', (event) => {
    const e = event as KeyboardEvent;
    if (e.key === 'Escape') {
      e.preventDefault();
      cancel();
    } else if (e.key === 'Enter' && (kind === 'labels' || e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      save(patchOf(kind, field.value, initial));
    }
  });
  const editor = h(
    'div',
    { class: `edit-${kind}`, 'data-editor': kind },
    h('label', null, kind === 'correction' ? 'Correction' : 'Labels'),
    field,
    h('p', { class: 'muted' }, hint),
  );
  queueMicrotask(() => field.focus());
  return editor;
}
