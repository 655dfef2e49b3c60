import { AppError } from '../../core/errors.ts';
import type { AnnotationPatch } from '../../schema/index.ts';

/** Limits of one annotation: generous for real reviews, small enough that a row stays a row. */
export const ANNOTATION_LIMITS = {
  labels: 50,
  labelLength: 100,
  correctionLength: 100_000,
  noteLength: 10_000,
} as const;

const bad = (param: string, message: string) => new AppError('BAD_REQUEST', message, { param });

/** Throws a BAD_REQUEST naming the field when a change of an annotation is not acceptable. */
export function validateAnnotation({ customId, patch }: { customId: string; patch: AnnotationPatch }): void {
  if (typeof customId !== 'string' || customId === '')
    throw bad('customId', 'customId is required: the custom_id of the result to annotate');
  const { rating, labels, correction, note } = patch;
  if (rating !== undefined && rating !== null && (!Number.isInteger(rating) || rating < 1 || rating > 5)) {
    throw bad('rating', `rating must be an integer from 1 to 5 (got ${rating}); send null to clear it`);
  }
  if (labels !== undefined && labels !== null) {
    if (labels.length > ANNOTATION_LIMITS.labels) {
      throw bad('labels', `labels has ${labels.length} entries; at most ${ANNOTATION_LIMITS.labels} are allowed`);
    }
    labels.forEach((label, i) => {
      if (typeof label !== 'string' || label.trim() === '')
        throw bad(`labels[${i}]`, `labels[${i}] is empty; every label must be a non-empty string`);
      if (label.length > ANNOTATION_LIMITS.labelLength) {
        throw bad(`labels[${i}]`, `labels[${i}] is ${label.length} characters long; at most ${ANNOTATION_LIMITS.labelLength} are allowed`);
      }
    });
  }
  // An empty correction would be exported as an empty answer: clearing is null.
  if (typeof correction === 'string' && correction.trim() === '')
    throw bad('correction', 'correction is empty; send the corrected answer, or null to remove the correction');
  if (typeof correction === 'string' && correction.length > ANNOTATION_LIMITS.correctionLength) {
    throw bad(
      'correction',
      `correction is ${correction.length} characters long; at most ${ANNOTATION_LIMITS.correctionLength} are allowed`,
    );
  }
  if (typeof note === 'string' && note.length > ANNOTATION_LIMITS.noteLength) {
    throw bad('note', `note is ${note.length} characters long; at most ${ANNOTATION_LIMITS.noteLength} are allowed`);
  }
}
