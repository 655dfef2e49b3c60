import { HandlerError } from './errors.ts';

/**
 * Which hosts a handler may reach at the addresses a batch names (a webhook URL, a
 * database URL). A batch is written by whoever holds an API key; without this, a key would
 * let its holder make the fleet POST to the cloud's metadata service or read an internal
 * service's error pages back through the handler run's `last_error`.
 */
export interface DestinationPolicy {
  /** Loopback, private, link-local and other non-public addresses are allowed too. */
  allowPrivate: boolean;
  /** Host names and IP literals reachable whatever they resolve to (lowercase, as URLs spell them: `[::1]`). */
  allowedHosts: readonly string[];
}

/** The policy of a single-user setup: every destination is allowed. */
export const ANY_DESTINATION: DestinationPolicy = { allowPrivate: true, allowedHosts: [] };

/** Resolves a host name to its addresses (`node:dns` `lookup` with `all: true`). */
export type LookupAll = (hostname: string) => Promise<{ address: string }[]>;

const lookupAll: LookupAll = async (hostname) => {
  // Imported when first needed, so that the SDK loads where there is no DNS module (an edge gateway).
  const { lookup } = await import('node:dns/promises');
  return lookup(hostname, { all: true, verbatim: true });
};

// IPv4 ranges that are not the public internet (RFC 6890 and friends): [first octets, prefix length, what].
const V4_RANGES: [number[], number, string][] = [
  [[0], 8, 'unspecified'],
  [[10], 8, 'private'],
  [[100, 64], 10, 'shared (carrier-grade NAT)'],
  [[127], 8, 'loopback'],
  [[169, 254], 16, 'link-local'],
  [[172, 16], 12, 'private'],
  [[192, 0, 0], 24, 'IETF protocol'],
  [[192, 168], 16, 'private'],
  [[198, 18], 15, 'benchmarking'],
  [[224], 4, 'multicast'],
  [[240], 4, 'reserved'],
];

function v4Kind(address: string): string | null {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return null;
  const value = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
  for (const [octets, bits, kind] of V4_RANGES) {
    const base = octets.concat([0, 0, 0, 0]).slice(0, 4);
    const start = ((base[0]! << 24) | (base[1]! << 16) | (base[2]! << 8) | base[3]!) >>> 0;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if ((value & mask) >>> 0 === start) return kind;
  }
  return null;
}

/** The eight 16-bit groups of an IPv6 address, or null; an embedded IPv4 tail counts as two. */
function v6Groups(address: string): number[] | null {
  let text = address
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/%.*$/, '');
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    text = `${text.slice(0, -v4[1]!.length)}${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<string>(Math.max(fill, 0)).fill('0'), ...tail].map((g) =>
    /^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN,
  );
  return groups.length === 8 && groups.every((g) => !Number.isNaN(g)) ? groups : null;
}

const v4Of = (groups: number[]) => [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join('.');

/** What kind of non-public address `address` (an IPv4 or IPv6 literal) is, or null for a public one. */
export function nonPublicKind(address: string): string | null {
  if (!address.includes(':')) return v4Kind(address);
  const g = v6Groups(address);
  if (!g) return null;
  const zeroUntil = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUntil(8)) return 'unspecified';
  if (zeroUntil(7) && g[7] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) reach the IPv4 address they carry.
  if ((zeroUntil(5) && g[5] === 0xffff) || (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)))
    return v4Kind(v4Of(g));
  if ((g[0]! & 0xfe00) === 0xfc00) return 'private (unique local)';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  return null;
}

const isLiteral = (host: string) => host.startsWith('[') || /^\d+\.\d+\.\d+\.\d+$/.test(host);
const isLocalName = (host: string) => host === 'localhost' || host.endsWith('.localhost');

function refusal(host: string, found: string): HandlerError {
  return new HandlerError(
    `the host ${host} ${found}, and batches may only name public hosts on this server; name a public host, or ask the operator to allow this one (HANDLER_ALLOWED_HOSTS=${host}, or HANDLER_PRIVATE_NETWORKS=allow)`,
    { retryable: false },
  );
}

/**
 * The problem with sending to `url` under `policy` that is visible without DNS (an IP
 * literal or `localhost` that is not public), or null. The gateway checks this when a batch
 * is created, so that the obvious cases fail at once rather than when the batch ends.
 */
export function literalDestinationProblem(url: string, policy: DestinationPolicy): string | null {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return null;
  }
  if (!host || policy.allowPrivate || policy.allowedHosts.includes(host)) return null;
  if (isLocalName(host)) return refusal(host, 'is this machine').message;
  const kind = isLiteral(host) ? nonPublicKind(host.replace(/^\[|\]$/g, '')) : null;
  return kind ? refusal(host, `is a ${kind} address`).message : null;
}

/**
 * Throws a permanent {@link HandlerError} when `url`'s host is, or resolves to, an address
 * that is not public and `policy` does not allow it. A host that does not resolve passes:
 * the connection then fails as usual (and is retried). The check is made before the
 * connection and the runtime resolves the name again, so a name whose answer changes in
 * between (DNS rebinding) is not stopped; the allow list of the deployment is what to rely on
 * for internal receivers.
 */
export async function checkDestination(url: string | URL, policy: DestinationPolicy, lookup: LookupAll = lookupAll): Promise<void> {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  const host = parsed.hostname.toLowerCase();
  if (!host || policy.allowPrivate || policy.allowedHosts.includes(host)) return;
  const literal = literalDestinationProblem(parsed.href, policy);
  if (literal) throw new HandlerError(literal, { retryable: false });
  if (isLiteral(host)) return;
  let addresses: { address: string }[];
  try {
    addresses = await lookup(host);
  } catch {
    return;
  }
  for (const { address } of addresses) {
    const kind = nonPublicKind(address);
    if (kind) throw refusal(host, `resolves to ${address}, a ${kind} address`);
  }
}

/** The host names of every URL among the string values of `options` (a handler's deployment options: trusted, as the operator wrote them). */
export function hostsOf(options: unknown): string[] {
  if (typeof options === 'string') {
    try {
      const host = new URL(options).hostname.toLowerCase();
      return host ? [host] : [];
    } catch {
      return [];
    }
  }
  if (options && typeof options === 'object') return Object.values(options).flatMap(hostsOf);
  return [];
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * A fetch that checks every destination with `check` before connecting, the targets of
 * redirects included: unless the caller handles redirects itself (`redirect: 'manual'` or
 * `'error'`), it follows up to five of them on its own, checking each one.
 */
export function guardedFetch(fetchImpl: typeof fetch, check: (url: URL) => Promise<void>): typeof fetch {
  const guarded = async (input: Parameters<typeof fetch>[0], init: RequestInit = {}): Promise<Response> => {
    let url = new URL(input instanceof Request ? input.url : String(input));
    await check(url);
    if (input instanceof Request || init.redirect === 'manual' || init.redirect === 'error') return fetchImpl(input, init);
    let current: RequestInit = { ...init, redirect: 'manual' };
    for (let hop = 0; ; hop++) {
      const response = await fetchImpl(url, current);
      const location = response.headers.get('location');
      if (!REDIRECTS.has(response.status) || !location) return response;
      if (hop === MAX_REDIRECTS) throw new HandlerError(`${url.origin} redirected more than ${MAX_REDIRECTS} times`, { retryable: false });
      await response.body?.cancel();
      url = new URL(location, url);
      await check(url);
      const method = (current.method ?? 'GET').toUpperCase();
      // As browsers do: 303, and 301/302 after a POST, continue as a GET without the body.
      if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
        current = { ...current, method: 'GET', body: undefined };
      }
    }
  };
  return guarded as typeof fetch;
}

/**
 * A handler run's `fetch` and `checkDestination` under `policy`, with the hosts of the
 * handler's deployment options allowed as well (the operator named them: an internal Label
 * Studio, the results database).
 */
export function destinationGuard(policy: DestinationPolicy, deployment: unknown, fetchImpl: typeof fetch, lookup?: LookupAll) {
  const effective: DestinationPolicy = { ...policy, allowedHosts: [...policy.allowedHosts, ...hostsOf(deployment)] };
  const check = (url: string | URL) => checkDestination(url, effective, lookup);
  return { fetch: effective.allowPrivate ? fetchImpl : guardedFetch(fetchImpl, check), checkDestination: check };
}
