import { AppError } from '../../../core/errors.ts';
import { DEFAULT_OWNER_WEIGHT, listOwnerWeights, setOwnerWeight, type OwnerWeight } from '../../../schema/index.ts';
import { LOCAL_OWNER } from '../../auth.ts';
import type { Builder } from '../builder.ts';

/**
 * The weights an administrator may give. Weights only matter relative to each other, so a
 * ratio of a million between two owners is more than any policy needs; the bounds also keep a
 * typo (1e-50, which Postgres' `real` would round to the 0 the table refuses) from reaching it.
 */
export const MIN_OWNER_WEIGHT = 0.001;
export const MAX_OWNER_WEIGHT = 1000;

/**
 * Owner names as the gateway makes them (gateway/auth.ts): `key_` and 16 hex digits of the
 * key's SHA-256, or `local` without keys. Anything else names nobody, and is most likely an
 * API key pasted in place of its owner, which must not be stored.
 */
export const OWNER_NAME = /^(?:key_[0-9a-f]{16}|local)$/;

/** Fair share decides whose work the GPUs run: only administrators change it. */
function requireAdmin(admin: boolean): void {
  if (admin) return;
  throw new AppError(
    'FORBIDDEN',
    'Setting fair-share weights needs an administrator key (one of ADMIN_API_KEYS): a weight decides how much of the fleet an owner gets. This key may read its own weight and share with ownerWeights and queueShares.',
    { reason: 'admin_key_required' },
  );
}

function checkWeight(owner: string, weight: number): void {
  if (!OWNER_NAME.test(owner)) {
    throw new AppError(
      'BAD_REQUEST',
      `owner must be an owner name as queueShares shows it: "key_" and the first 16 hex digits of the key's SHA-256 (printf %s "$KEY" | sha256sum | cut -c1-16), or "${LOCAL_OWNER}" on a gateway without keys. Never pass the API key itself.`,
      { param: 'owner' },
    );
  }
  if (!Number.isFinite(weight) || weight < MIN_OWNER_WEIGHT || weight > MAX_OWNER_WEIGHT) {
    throw new AppError(
      'BAD_REQUEST',
      `weight must be a number from ${MIN_OWNER_WEIGHT} to ${MAX_OWNER_WEIGHT}: the owner's share of the fleet relative to other owners' weights (${DEFAULT_OWNER_WEIGHT} is everybody's default, and setting it removes the owner's weight); got ${weight}.`,
      { param: 'weight' },
    );
  }
}

/** Adds the `OwnerWeight` type, `Query.ownerWeights` and `Mutation.setOwnerWeight`; returns the type's ref. */
export function defineOwnerWeight(builder: Builder) {
  const OwnerWeightRef = builder.objectRef<OwnerWeight>('OwnerWeight').implement({
    description:
      'How much of the fleet an owner (an API key) gets under fair share, relative to the other owners with queued work for a model.',
    fields: (t) => ({
      owner: t.exposeString('owner', { description: "The owner: `key_` and 16 hex digits of its key's SHA-256, or `local` without keys." }),
      weight: t.exposeFloat('weight', { description: `${DEFAULT_OWNER_WEIGHT} unless an administrator set another.` }),
      updatedAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When an administrator set it; null for the default.',
        resolve: (w) => (w.updatedAtMs === null ? null : new Date(w.updatedAtMs)),
      }),
    }),
  });

  builder.queryField('ownerWeights', (t) =>
    t.field({
      type: [OwnerWeightRef],
      description:
        'The weights administrators set, by owner (owners not listed weigh 1). Other keys see only their own weight, default or not.',
      resolve: async (_root, _args, { database, owner, admin }) => {
        if (admin) return listOwnerWeights(database.db);
        const [mine] = await listOwnerWeights(database.db, { owner });
        return [mine ?? { owner, weight: DEFAULT_OWNER_WEIGHT, updatedAtMs: null }];
      },
    }),
  );

  builder.mutationField('setOwnerWeight', (t) =>
    t.field({
      type: OwnerWeightRef,
      description: `Sets an owner's fair-share weight (administrators only): with weights 2 and 1, two owners with queued work for a model get two thirds and one third of the fleet's in-flight requests. ${DEFAULT_OWNER_WEIGHT} puts the owner back to the default.`,
      args: {
        owner: t.arg.string({ required: true, description: 'The owner name, as `queueShares` and `ownerWeights` show it.' }),
        weight: t.arg.float({ required: true, description: `From ${MIN_OWNER_WEIGHT} to ${MAX_OWNER_WEIGHT}.` }),
      },
      resolve: (_root, { owner, weight }, { database, admin }) => {
        requireAdmin(admin);
        checkWeight(owner, weight);
        return setOwnerWeight(database.db, owner, weight);
      },
    }),
  );

  return OwnerWeightRef;
}
