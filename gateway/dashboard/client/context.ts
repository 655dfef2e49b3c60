import type { Api } from './api.ts';
import { h, replace } from './dom.ts';
import type { KeyStore } from './key-store.ts';
import type { Live } from './live.ts';

/** What every page works with. */
export interface Context {
  api: Api;
  live: Live;
  keys: KeyStore;
}

/** The life of one rendered page: what to stop when the reader leaves it. */
export interface Scope {
  /** True once the page was left: late answers must not touch the document. */
  readonly closed: boolean;
  /** Registers something to stop when the page is left (a subscription, a timer). */
  add(stop: () => void): void;
  /** Runs `fn` every `ms` milliseconds while the page is shown. */
  every(ms: number, fn: () => void): void;
}

/** A page: renders into `root`, with the route's parameters. */
export type Page = (context: Context, root: HTMLElement, params: Record<string, string>, scope: Scope) => void | Promise<void>;

/** Creates a scope and the function that closes it. */
export function createScope(): Scope & { close(): void } {
  const stops: (() => void)[] = [];
  let closed = false;
  return {
    get closed() {
      return closed;
    },
    add: (stop) => void (closed ? stop() : stops.push(stop)),
    every(ms, fn) {
      const timer = setInterval(fn, ms);
      stops.push(() => clearInterval(timer));
    },
    close() {
      closed = true;
      for (const stop of stops.splice(0)) stop();
    },
  };
}

/** Shows an error message in place of (or above) a page's content. */
export function showError(root: Element, error: unknown): void {
  replace(root, h('p', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error)));
}

/** Calls `fn` at most once per `ms` (the last call wins): lists refresh once for a burst of events. */
export function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}
