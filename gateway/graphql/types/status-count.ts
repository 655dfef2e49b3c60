import type { Builder } from '../builder.ts';

/** Adds the `StatusCount` type; returns its ref. */
export function defineStatusCount(builder: Builder) {
  return builder.objectRef<{ status: string; batches: number }>('StatusCount').implement({
    description: 'How many batches are in one status.',
    fields: (t) => ({
      status: t.exposeString('status'),
      batches: t.exposeInt('batches'),
    }),
  });
}
