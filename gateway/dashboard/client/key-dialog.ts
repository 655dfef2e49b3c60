import { h, replace } from './dom.ts';
import type { KeyStore } from './key-store.ts';

/**
 * The API key form: shown when the gateway asks for a key (or refuses the one stored), and
 * from the header. Saving keeps the key in localStorage and reloads, so every request and the
 * live connection start again with it.
 */
export function createKeyDialog(keys: KeyStore) {
  const input = h('input', { type: 'password', name: 'apiKey', autocomplete: 'off', required: true, placeholder: 'API key' });
  const reason = h('p', { class: 'reason' });
  const forget = h('button', { type: 'button', class: 'secondary' }, 'Forget key');
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', null, 'API key'),
    reason,
    h('label', null, 'Key ', input),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save'), forget),
  );
  const dialog = h('dialog', { class: 'key-dialog' }, form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    keys.set(input.value);
    location.reload();
  });
  forget.addEventListener('click', () => {
    keys.clear();
    location.reload();
  });
  document.body.append(dialog);
  return {
    /** Opens the form, saying why. */
    open(message: string) {
      if (dialog.open) return;
      replace(reason, message);
      forget.hidden = keys.get() === null;
      dialog.showModal();
      input.focus();
    },
  };
}
