import { AppError } from '../../../core/errors.ts';
import { listOwnerLimits, setOwnerLimits, type OwnerLimits } from '../../../schema/index.ts';
import { LOCAL_OWNER } from '../../auth.ts';
import type { GatewayConfig } from '../../config.ts';
import type { Builder } from '../builder.ts';
import { OWNER_NAME } from './owner-weight.ts';

/** The most a limit may be: the `owner_limits` columns are int4. */
const MAX_LIMIT = 2_147_483_647;

/** An owner's quotas as in force: what an administrator set, else the deployment's defaults. */
interface OwnerLimitsInForce extends OwnerLimits {
  effectiveMaxQueuedRequests: number | null;
  effectiveRequestsPerMinute: number | null;
}

const inForce = (limits: OwnerLimits, config: GatewayConfig): OwnerLimitsInForce => ({
  ...limits,
  effectiveMaxQueuedRequests: limits.maxQueuedRequests ?? config.MAX_QUEUED_REQUESTS_PER_OWNER ?? null,
  effectiveRequestsPerMinute: limits.requestsPerMinute ?? config.API_REQUESTS_PER_MINUTE ?? null,
});

/** Quotas decide how much of the fleet and the API an owner may take: only administrators set them. */
function requireAdmin(admin: boolean): void {
  if (admin) return;
  throw new AppError(
    'FORBIDDEN',
    'Setting owner limits needs an administrator key (one of ADMIN_API_KEYS): a limit decides how much an owner may queue and call. This key may read its own limits with ownerLimits.',
    { reason: 'admin_key_required' },
  );
}

function checkLimits(owner: string, limits: Record<'maxQueuedRequests' | 'requestsPerMinute', number | null | undefined>): void {
  if (!OWNER_NAME.test(owner)) {
    throw new AppError(
      'BAD_REQUEST',
      `owner must be an owner name as ownerLimits shows it: "key_" and the first 16 hex digits of the key's SHA-256 (printf %s "$KEY" | sha256sum | cut -c1-16), or "${LOCAL_OWNER}" on a gateway without keys. Never pass the API key itself.`,
      { param: 'owner' },
    );
  }
  for (const [param, value] of Object.entries(limits)) {
    if (value !== null && value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= MAX_LIMIT)) {
      throw new AppError(
        'BAD_REQUEST',
        `${param} must be a whole number from 1 to ${MAX_LIMIT}, or null for the deployment's default; got ${value}.`,
        { param },
      );
    }
  }
}

/** Adds the `OwnerLimits` type, `Query.ownerLimits` and `Mutation.setOwnerLimits`; returns the type's ref. */
export function defineOwnerLimits(builder: Builder) {
  const OwnerLimitsRef = builder.objectRef<OwnerLimitsInForce>('OwnerLimits').implement({
    description:
      "An owner's quotas: the requests it may have queued across its batches (over it, batch creation is a 429) and its API requests per minute (over it, a 429 with Retry-After). Null: the deployment's default.",
    fields: (t) => ({
      owner: t.exposeString('owner', { description: "The owner: `key_` and 16 hex digits of its key's SHA-256, or `local` without keys." }),
      maxQueuedRequests: t.exposeInt('maxQueuedRequests', {
        nullable: true,
        description: 'As an administrator set it; null = MAX_QUEUED_REQUESTS_PER_OWNER.',
      }),
      requestsPerMinute: t.exposeInt('requestsPerMinute', {
        nullable: true,
        description: 'As an administrator set it; null = API_REQUESTS_PER_MINUTE.',
      }),
      effectiveMaxQueuedRequests: t.exposeInt('effectiveMaxQueuedRequests', {
        nullable: true,
        description: "The limit in force: the owner's own, else the default; null = unlimited.",
      }),
      effectiveRequestsPerMinute: t.exposeInt('effectiveRequestsPerMinute', {
        nullable: true,
        description: "The rate in force: the owner's own, else the default; null = unlimited.",
      }),
      updatedAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When an administrator set them; null when both are the defaults.',
        resolve: (l) => (l.updatedAtMs === null ? null : new Date(l.updatedAtMs)),
      }),
    }),
  });

  builder.queryField('ownerLimits', (t) =>
    t.field({
      type: [OwnerLimitsRef],
      description:
        "The limits administrators set, by owner (owners not listed have the deployment's defaults). Other keys see only their own, default or not.",
      resolve: async (_root, _args, { database, owner, admin, deps }) => {
        if (admin) return (await listOwnerLimits(database.db)).map((l) => inForce(l, deps.config));
        const [mine] = await listOwnerLimits(database.db, { owner });
        return [inForce(mine ?? { owner, maxQueuedRequests: null, requestsPerMinute: null, updatedAtMs: null }, deps.config)];
      },
    }),
  );

  builder.mutationField('setOwnerLimits', (t) =>
    t.field({
      type: OwnerLimitsRef,
      description:
        "Sets an owner's quotas (administrators only), shared by every gateway replica. A limit left out keeps its current value; an explicit null sets it back to the deployment's default (MAX_QUEUED_REQUESTS_PER_OWNER, API_REQUESTS_PER_MINUTE); both at the default remove the owner's row.",
      args: {
        owner: t.arg.string({ required: true, description: 'The owner name, as `ownerLimits` and `queueShares` show it.' }),
        maxQueuedRequests: t.arg.int({ required: false, description: `From 1 to ${MAX_LIMIT}; null = the default; left out = unchanged.` }),
        requestsPerMinute: t.arg.int({ required: false, description: `From 1 to ${MAX_LIMIT}; null = the default; left out = unchanged.` }),
      },
      resolve: async (_root, args, { database, admin, deps }) => {
        requireAdmin(admin);
        // Pothos gives undefined for an argument left out (keep the stored limit), null for an explicit null (the default).
        const limits = { maxQueuedRequests: args.maxQueuedRequests, requestsPerMinute: args.requestsPerMinute };
        checkLimits(args.owner, limits);
        return inForce(await setOwnerLimits(database.db, args.owner, limits), deps.config);
      },
    }),
  );

  return OwnerLimitsRef;
}
