/** What may be a child of an element built by {@link h}: nodes, text, or nothing. */
export type Child = Node | string | number | null | undefined | false | Child[];

/** Attributes and event listeners (`onclick`, `onsubmit`, ...) of an element built by {@link h}. */
export type Props = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

/** Appends children, flattening arrays and skipping empty ones. */
export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Builds an element: `h('a', { href: '#/', class: 'x' }, 'text')`. Text is always set as text, never parsed as HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value !== false && value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A table with a header row; `empty` is shown in one cell when there are no rows. */
export function table(headers: string[], rows: Child[][], empty = 'Nothing here yet.', attrs: Props = {}): HTMLTableElement {
  return h(
    'table',
    attrs,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((text) => h('th', null, text)),
      ),
    ),
    h(
      'tbody',
      null,
      rows.length
        ? rows.map((cells) =>
            h(
              'tr',
              null,
              cells.map((cell) => h('td', null, cell)),
            ),
          )
        : h('tr', null, h('td', { colspan: headers.length, class: 'empty' }, empty)),
    ),
  );
}

/** A status badge, styled by status. */
export const badge = (status: string) => h('span', { class: `badge status-${status}`, 'data-status': status }, status.replace('_', ' '));
