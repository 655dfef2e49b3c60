import { AppError } from '../core/errors.ts';

/** The request headers a browser cannot forge that tell where a request comes from. */
export interface RequestOrigin {
  host: string | null;
  origin: string | null;
}

/** Options for {@link createLocalGuard}. */
export interface LocalGuardOptions {
  /** No API_KEYS: whoever reaches the gateway may do anything. */
  keyless: boolean;
  /** The gateway is bound to a loopback address, so every legitimate Host names this machine. */
  loopbackOnly: boolean;
}

const LOOPBACK_HOST = /^(localhost|[^.]+\.localhost|127(\.\d{1,3}){3}|\[::1\])$/i;
const LOOPBACK_BIND = /^(localhost|127(\.\d{1,3}){3}|::1)$/i;

/** True when the gateway binds only to this machine. */
export const isLoopbackBind = (host: string) => LOOPBACK_BIND.test(host);

/**
 * Without API keys the gateway trusts whoever reaches it, and keeps that to this machine by
 * binding to loopback. A browser on this machine would still let any web page reach it: a
 * cross-site form upload or `text/plain` POST (CSRF), a cross-site WebSocket, or DNS
 * rebinding (a page whose own host name resolves to 127.0.0.1). So without keys a request is
 * refused when its `Origin` (which browsers send on cross-site requests and WebSockets) is
 * not the gateway's own, and, when bound to loopback, when its `Host` does not name this
 * machine. Clients that are not browsers (the CLI, the SDKs) send no `Origin` and are not
 * affected. With API keys none of this applies: a page cannot send the bearer key.
 * Returns the reason for refusing, or null.
 */
export function createLocalGuard({ keyless, loopbackOnly }: LocalGuardOptions): (request: RequestOrigin) => string | null {
  if (!keyless) return () => null;
  return function refusal({ host, origin }) {
    if (loopbackOnly && host !== null && !LOOPBACK_HOST.test(host.replace(/:\d+$/, ''))) {
      return `The Host ${host} does not name this machine; without API_KEYS the gateway answers only to localhost and 127.0.0.1 (set API_KEYS to serve other names).`;
    }
    if (origin === null) return null;
    let originHost: string | null = null;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = null;
    }
    if (originHost === null || originHost !== host) {
      return `Requests from pages of another origin (${origin}) are refused without API_KEYS, so that no web page can drive this gateway; set API_KEYS to call it from a browser app.`;
    }
    return null;
  };
}

/** The guard's refusal as the application's error. */
export const localGuardError = (reason: string) => new AppError('FORBIDDEN', reason, { reason: 'cross_origin_refused' });
