import { ANNOTATION_SOURCES, type AnnotationSource, type ResultAnnotation } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';

/** GraphQL names cannot hold `-`: `label-studio` is `label_studio` in the schema. */
const enumName = (source: AnnotationSource) => source.replace('-', '_');

const SOURCE_DESCRIPTIONS: Record<AnnotationSource, string> = {
  api: 'Through the GraphQL API (annotateResult).',
  dashboard: "From the dashboard's result viewer.",
  'label-studio': "From Label Studio, through the gateway's webhook.",
};

/** Adds the `AnnotationSource` enum and the `Annotation` type; returns their refs. */
export function defineAnnotation(builder: Builder) {
  const AnnotationSourceRef = builder.enumType('AnnotationSource', {
    description: "Where a result's annotation was last changed from.",
    values: Object.fromEntries(
      ANNOTATION_SOURCES.map((source) => [enumName(source), { value: source, description: SOURCE_DESCRIPTIONS[source] }]),
    ) as Record<string, { value: AnnotationSource; description: string }>,
  });

  const AnnotationRef = builder.objectRef<ResultAnnotation>('Annotation').implement({
    description: "A reviewer's judgement of one result. A cleared field is null; who last changed it, from where and when is kept.",
    fields: (t) => ({
      gold: t.exposeBoolean('gold', { nullable: true, description: 'Starred as a gold example.' }),
      rating: t.exposeInt('rating', { nullable: true, description: '1 (bad) to 5 (excellent).' }),
      correction: t.exposeString('correction', {
        nullable: true,
        description: 'The answer as it should have been; dataset exports use it instead of the model answer.',
      }),
      labels: t.exposeStringList('labels', { nullable: true }),
      note: t.exposeString('note', { nullable: true, description: "A reviewer's remark; not exported." }),
      annotator: t.exposeString('annotator', { description: "Who made the last change: the API key's owner, or the Label Studio user." }),
      source: t.expose('source', { type: AnnotationSourceRef }),
      updatedAt: t.field({ type: 'DateTime', description: 'When it was last changed.', resolve: (a) => new Date(a.updatedAt) }),
    }),
  });

  return { AnnotationSource: AnnotationSourceRef, Annotation: AnnotationRef };
}
