// Annotating results: shared by GraphQL's annotateResult and Label Studio's webhook.
export { annotateAndAnnounce, annotationHandlers, annotationRefused, type AnnotateDeps, type AnnotateInput } from './annotate.ts';
export { ANNOTATION_LIMITS, validateAnnotation } from './validate-annotation.ts';
