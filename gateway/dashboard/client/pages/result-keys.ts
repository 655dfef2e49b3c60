// The result viewer's keys. They act only while the viewer is on the page, never while the
// reader types (a text field, a text area, a select, the API key dialog), and never with
// Ctrl, Alt or Cmd held, which belong to the browser.

/** What each key does. */
export interface ResultKeys {
  /** j: next result (1), k: previous (-1). */
  move(step: 1 | -1): void;
  /** g: toggles the gold star. */
  gold(): void;
  /** 1–5: sets the rating. */
  rate(rating: number): void;
  /** e: edits the correction, l: the labels. */
  edit(kind: 'correction' | 'labels'): void;
}

/** Input types whose keys are not text, so the viewer's keys still work after a click on them. */
const NOT_TYPING = new Set(['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color', 'file']);

/** Whether a key pressed on `target` is typing. */
function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target instanceof HTMLInputElement) return !NOT_TYPING.has(target.type);
  return target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || target.isContentEditable;
}

/** Listens to the keys on the document while `viewer` is attached to it; returns what stops it. */
export function bindResultKeys(viewer: HTMLElement, keys: ResultKeys): () => void {
  const onKey = (event: KeyboardEvent) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    // A dialog open over the page (the API key form) has the keys, even on its buttons.
    if (!viewer.isConnected || typing(event.target) || document.querySelector('dialog[open]')) return;
    if (event.key === 'j') keys.move(1);
    else if (event.key === 'k') keys.move(-1);
    else if (event.key === 'g') keys.gold();
    else if (/^[1-5]$/.test(event.key)) keys.rate(Number(event.key));
    else if (event.key === 'e') keys.edit('correction');
    else if (event.key === 'l') keys.edit('labels');
    else return;
    event.preventDefault();
  };
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}
