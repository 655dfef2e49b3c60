import { getFile, type FileRow } from '../../../schema/index.ts';
import { parseExpiresAfter } from '../../files/expires-after.ts';
import { uploadFile } from '../../files/upload.ts';
import { chunksOf } from '../../files/web-streams.ts';
import type { Builder } from '../builder.ts';

/** Adds the `File` type, `Query.file` and `Mutation.uploadFile`; returns the type's ref. */
export function defineFile(builder: Builder) {
  const FileRef = builder.objectRef<FileRow>('File').implement({
    description: 'An uploaded batch input file, the output or error file of a batch, or a dataset exported from results.',
    fields: (t) => ({
      id: t.exposeID('id'),
      purpose: t.exposeString('purpose', {
        description:
          '`batch` (an input), `batch_output` (an output or error file, as OpenAI names both) or `fine-tune` (a dataset made by exportDataset).',
      }),
      kind: t.exposeString('kind', { description: '`input`, `output`, `error` or `dataset`: what the file holds.' }),
      filename: t.exposeString('filename'),
      bytes: t.exposeFloat('bytes', { description: 'Size in bytes (a Float: result files may pass 2^31).' }),
      lines: t.exposeInt('lines', { nullable: true, description: 'Lines in the file.' }),
      batchId: t.exposeID('batchId', { nullable: true, description: 'The batch that produced this file (output and error files).' }),
      createdAt: t.field({ type: 'DateTime', resolve: (file) => new Date(file.createdAtMs) }),
      expiresAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When the file expires and is removed; null when it is kept until deleted.',
        resolve: (file) => (file.expiresAtMs === null ? null : new Date(file.expiresAtMs)),
      }),
      contentPath: t.string({
        description: 'Where to download the content: GET this path (with your API key) on the gateway.',
        resolve: (file) => `/v1/files/${file.id}/content`,
      }),
    }),
  });

  builder.queryField('file', (t) =>
    t.field({
      type: FileRef,
      nullable: true,
      description: 'One of your files, or null.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { database, owner }) => getFile(database.db, String(id), owner),
    }),
  );

  builder.mutationField('uploadFile', (t) =>
    t.field({
      type: FileRef,
      description:
        'Uploads a JSONL batch input file (GraphQL multipart request). Large files are better sent to ' +
        'POST /v1/files, which streams them; a GraphQL upload is read by the server before it is stored.',
      args: {
        file: t.arg({ type: 'Upload', required: true }),
        purpose: t.arg.string({ defaultValue: 'batch', required: true }),
        expiresAfterSeconds: t.arg.int({
          description: 'Seconds (3600 to 2592000) the file lives after its upload; by default FILE_RETENTION_DAYS, or kept.',
        }),
      },
      resolve: (_root, { file, purpose, expiresAfterSeconds: seconds }, { deps, owner }) => {
        const expiresAfterSeconds =
          seconds === null || seconds === undefined ? null : parseExpiresAfter({ anchor: 'created_at', seconds }, 'expiresAfter');
        return uploadFile(deps, owner, {
          filename: file.name || 'upload.jsonl',
          purpose,
          body: chunksOf(file.stream()),
          expiresAfterSeconds,
        });
      },
    }),
  );

  return FileRef;
}
