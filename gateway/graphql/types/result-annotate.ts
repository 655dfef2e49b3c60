import { AppError } from '../../../core/errors.ts';
import type { AnnotationPatch, AnnotationSource } from '../../../schema/index.ts';
import { annotateAndAnnounce, annotationRefused, ANNOTATION_LIMITS } from '../../annotations/index.ts';
import type { Builder } from '../builder.ts';
import type { defineAnnotation } from './annotation.ts';
import { readResult, type defineResult } from './result.ts';

const PATCH_FIELDS = ['gold', 'rating', 'correction', 'labels', 'note'] as const;

/** The refs `annotateResult` points to. */
export type AnnotateResultRefs = Pick<ReturnType<typeof defineResult>, 'Result'> &
  Pick<ReturnType<typeof defineAnnotation>, 'AnnotationSource'>;

/** Adds the `AnnotateResultInput` input and `Mutation.annotateResult`. */
export function defineAnnotateResult(builder: Builder, refs: AnnotateResultRefs) {
  const AnnotateResultInputRef = builder.inputType('AnnotateResultInput', {
    description: "A change of one result's annotation: a field left out stays as it is, a field set to null is cleared.",
    fields: (t) => ({
      batchId: t.id({ required: true }),
      customId: t.string({ required: true, description: 'The custom_id of the request whose result is annotated.' }),
      gold: t.boolean({ description: 'Star it as a gold example (exports keep gold results by default).' }),
      rating: t.int({ description: '1 (bad) to 5 (excellent).' }),
      correction: t.string({
        description: `The answer as it should have been (at most ${ANNOTATION_LIMITS.correctionLength.toLocaleString('en')} characters).`,
      }),
      labels: t.stringList({
        description: `The labels (at most ${ANNOTATION_LIMITS.labels}, each at most ${ANNOTATION_LIMITS.labelLength} characters); replaces the previous ones.`,
      }),
      note: t.string({
        description: `A remark for other reviewers (at most ${ANNOTATION_LIMITS.noteLength.toLocaleString('en')} characters).`,
      }),
      source: t.field({
        type: refs.AnnotationSource,
        defaultValue: 'api',
        description: 'api (the default) or dashboard; label_studio is only set by the Label Studio webhook.',
      }),
    }),
  });

  builder.mutationField('annotateResult', (t) =>
    t.field({
      type: refs.Result,
      description:
        "Changes a finished result's annotation (gold star, rating, correction, labels, note) as the caller's API key owner, " +
        'and returns the result as it is now. Handlers of the batch that run on result.annotated get a run when something changed; ' +
        'resultAnnotations subscribers see the change.',
      args: { input: t.arg({ type: AnnotateResultInputRef, required: true }) },
      resolve: async (_root, { input }, { deps, bus, owner, logger }) => {
        const source: AnnotationSource = input.source ?? 'api';
        if (source === 'label-studio') {
          throw new AppError('BAD_REQUEST', 'source label_studio is set only by the Label Studio webhook; use api or dashboard.', {
            param: 'source',
          });
        }
        const patch: AnnotationPatch = {};
        for (const field of PATCH_FIELDS) {
          if (field in input) Object.assign(patch, { [field]: input[field] ?? null });
        }
        const target = { batchId: String(input.batchId), customId: input.customId };
        const outcome = await annotateAndAnnounce(
          { database: deps.database, bus, handlers: deps.handlers, logger },
          { ...target, owner, patch, annotator: owner, source },
        );
        if (!outcome.ok) throw await annotationRefused(deps.database, target, outcome.reason);
        const result = await readResult(deps.database, target.batchId, outcome.line);
        if (!result) throw new Error(`annotateResult: line ${outcome.line} of ${target.batchId} vanished`);
        return result;
      },
    }),
  );
}
