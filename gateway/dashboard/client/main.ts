// The dashboard's entry: the layout, the hash router, and the shared API, key and live connection.
import { createApi } from './api.ts';
import { createScope, type Context, type Page } from './context.ts';
import { h, replace } from './dom.ts';
import { createKeyDialog } from './key-dialog.ts';
import { createKeyStore } from './key-store.ts';
import { createLive } from './live.ts';
import { batchPage } from './pages/batch.ts';
import { fleet } from './pages/fleet.ts';
import { history } from './pages/history.ts';
import { models } from './pages/models.ts';
import { overview } from './pages/overview.ts';
import { workers } from './pages/workers.ts';

/** Routes: `#/`, `#/history?status=...&model=...`, `#/batches/ID`, `#/fleet`, `#/models`, `#/workers`. */
const ROUTES: [RegExp, Page][] = [
  [/^\/?$/, overview],
  [/^\/history$/, history],
  [/^\/batches\/(?<id>[^/]+)$/, batchPage],
  [/^\/fleet$/, fleet],
  [/^\/models$/, models],
  [/^\/workers$/, workers],
];

const NAV: [string, string][] = [
  ['#/', 'Batches'],
  ['#/history', 'History'],
  ['#/fleet', 'Fleet'],
  ['#/models', 'Models'],
  ['#/workers', 'Workers'],
];

const keys = createKeyStore(localStorage);
const dialog = createKeyDialog(keys);
const onUnauthorized = (message: string) =>
  dialog.open(keys.get() ? `The gateway refused the stored key: ${message}` : `This gateway needs an API key: ${message}`);
const connection = h('span', { class: 'connection', 'data-state': 'offline', title: 'Live updates' }, 'offline');
const context: Context = {
  keys,
  api: createApi({ keys, onUnauthorized }),
  live: createLive({ keys, onUnauthorized, onState: (state) => ((connection.dataset.state = state), replace(connection, state)) }),
};

const nav = h(
  'nav',
  null,
  NAV.map(([href, label]) => h('a', { href }, label)),
);
const keyButton = h('button', { type: 'button', class: 'secondary' }, keys.get() ? 'API key ✓' : 'API key');
keyButton.addEventListener('click', () =>
  dialog.open(
    keys.get() ? 'A key is stored in this browser. Enter another one, or forget it.' : 'Enter the key if this gateway runs with API_KEYS.',
  ),
);
const main = h('main');
document.body.prepend(
  h(
    'header',
    null,
    h('a', { href: '#/', class: 'brand' }, 'vllm-batch-server'),
    nav,
    h('span', { class: 'spacer' }),
    connection,
    keyButton,
  ),
  main,
);

let current = createScope();
function route() {
  current.close();
  current = createScope();
  const [path = '', query = ''] = location.hash.replace(/^#/, '').split('?');
  for (const link of nav.querySelectorAll('a'))
    link.classList.toggle(
      'active',
      link.getAttribute('href') === `#${path || '/'}` || (path.startsWith('/batches') && link.getAttribute('href') === '#/'),
    );
  for (const [pattern, page] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    const params = {
      ...Object.fromEntries(new URLSearchParams(query)),
      ...Object.fromEntries(Object.entries(match.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)])),
    };
    void page(context, main, params, current);
    return;
  }
  replace(main, h('h1', null, 'Not found'), h('p', null, h('a', { href: '#/' }, 'Back to the batches')));
}
addEventListener('hashchange', route);
route();
