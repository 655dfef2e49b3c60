/**
 * Where an annotation of a result came from: the GraphQL API, the dashboard (which speaks
 * GraphQL but says so), or Label Studio's webhook. The one declaration; the database holds
 * `result_annotations.source` to it (a CHECK).
 */
export const ANNOTATION_SOURCES = ['api', 'dashboard', 'label-studio'] as const;

/** Where an annotation came from. */
export type AnnotationSource = (typeof ANNOTATION_SOURCES)[number];
