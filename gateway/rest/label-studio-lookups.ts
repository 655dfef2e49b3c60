import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../../schema/index.ts';

/** The result metadata key under which the webhook keeps where a result is reviewed in Label Studio. */
export const LABEL_STUDIO_METADATA_KEY = 'labelStudio';
// The lookup below spells the key out, so that Postgres uses result_metadata_label_studio_idx
// (an expression index matches literals, not parameters).

/** Where a result is reviewed: written into the result's metadata by the webhook. */
export interface LabelStudioLink {
  projectId: number | null;
  taskId: number;
  /** The Label Studio annotation the result's annotation came from last; absent once it was deleted. */
  annotationId?: number;
}

/**
 * The answer (response body and error) of a batch's result by custom_id; `undefined` when
 * the batch has no such request, null fields while it has no result.
 */
export async function resultAnswer(
  db: Executor,
  batchId: string,
  customId: string,
): Promise<{ response: string | null; statusCode: number | null; error: { code: string; message: string } | null } | undefined> {
  const [found] = await rows<{ response: string | null; statusCode: number | null; error: { code: string; message: string } | null }>(
    db,
    sql`select x.response, x.status_code as "statusCode", x.error
        from requests r left join results x on x.batch_id = r.batch_id and x.line = r.line
        where r.batch_id = ${batchId} and r.custom_id = ${customId}
        order by r.line limit 1`,
  );
  return found;
}

/**
 * The results whose last Label Studio annotation is one of these ids (ANNOTATIONS_DELETED
 * names only the ids): found by the link the webhook left in their metadata, in the project
 * when the payload names one.
 */
export async function resultsOfAnnotations(
  db: Executor,
  annotationIds: readonly number[],
  projectId: number | null,
): Promise<{ batchId: string; customId: string; link: LabelStudioLink }[]> {
  if (!annotationIds.length) return [];
  return rows(
    db,
    sql`select r.batch_id as "batchId", r.custom_id as "customId", m.metadata -> ${LABEL_STUDIO_METADATA_KEY} as link
        from result_metadata m join requests r on r.batch_id = m.batch_id and r.line = m.line
        where m.metadata ? 'labelStudio' and m.metadata -> 'labelStudio' -> 'annotationId' in (${sql.join(
          annotationIds.map((id) => sql`${String(id)}::jsonb`),
          sql`, `,
        )})
          ${projectId === null ? sql`` : sql`and m.metadata -> ${LABEL_STUDIO_METADATA_KEY} -> 'projectId' = ${String(projectId)}::jsonb`}`,
  );
}
