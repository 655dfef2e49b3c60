import { Hono } from 'hono';
import { AppError } from '../../core/errors.ts';
import { completeFile, deleteFile, getFile, isStoredFile, listFiles } from '../../schema/index.ts';
import { checkFileCursor } from '../cursors.ts';
import { fileContent } from '../files/file-content.ts';
import { MultipartError, multipartBoundary, parseMultipart } from '../files/multipart.ts';
import { storeUpload, type StoredUpload } from '../files/store-upload.ts';
import { parseExpiresAfter, retentionSeconds } from '../files/expires-after.ts';
import { checkPurpose } from '../files/upload.ts';
import { toReadableStream } from '../files/web-streams.ts';
import type { AppDeps } from '../app-deps.ts';
import { fileObject, listObject } from './openai-objects.ts';
import { enumParam, intParam } from './query-params.ts';

async function readField(body: AsyncIterable<Uint8Array>, max = 1024): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const piece of body) {
    text += decoder.decode(piece, { stream: true });
    if (text.length > max) throw new AppError('BAD_REQUEST', `A form field is longer than ${max} characters.`);
  }
  return text + decoder.decode();
}

/**
 * Adds one form field of `expires_after` to what was read so far: the SDKs send an object as
 * `expires_after[anchor]` and `expires_after[seconds]`; a single `expires_after` field may hold it as JSON.
 */
function expiresAfterField(sofar: unknown, name: string, value: string): unknown {
  if (name === 'expires_after') {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  const key = name.slice('expires_after['.length, -1);
  return { ...(typeof sofar === 'object' && sofar !== null ? sofar : {}), [key]: value.trim() };
}

const notFound = (id: string) => new AppError('NOT_FOUND', `No file with id ${id}.`, { param: 'file_id' });

/** `/v1/files`: upload (streamed multipart), list, retrieve, download and delete, in OpenAI's shapes. */
export function createFileRoutes(deps: AppDeps) {
  const { database, config } = deps;
  const routes = new Hono<{ Variables: { owner: string } }>();

  routes.post('/', async (c) => {
    const owner = c.get('owner');
    const boundary = multipartBoundary(c.req.header('content-type'));
    const body = c.req.raw.body;
    if (!boundary || !body) {
      throw new AppError('BAD_REQUEST', 'Upload the file as multipart/form-data with the fields "file" and "purpose".', { param: 'file' });
    }
    // Bytes not counted against the file: multipart headers and the purpose field.
    if (Number(c.req.header('content-length') ?? 0) > config.MAX_FILE_BYTES + 64 * 1024) {
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `The file is larger than ${config.MAX_FILE_BYTES} bytes (MAX_FILE_BYTES); split it into several files.`,
        { param: 'file' },
      );
    }
    let purpose: string | null = null;
    let expiresAfter: unknown;
    let stored: StoredUpload | undefined;
    try {
      // The OpenAI SDKs send the file before the purpose, so the purpose is checked last.
      for await (const part of parseMultipart(body, boundary)) {
        if (part.name === 'purpose') purpose = (await readField(part.body)).trim();
        else if (part.name === 'expires_after' || part.name?.startsWith('expires_after[')) {
          expiresAfter = expiresAfterField(expiresAfter, part.name, await readField(part.body));
        } else if (part.name === 'file') {
          if (stored) throw new AppError('BAD_REQUEST', 'Send one file per upload.', { param: 'file' });
          if (purpose !== null) checkPurpose(purpose);
          stored = await storeUpload(database, part.body, {
            owner,
            filename: part.filename ?? 'upload.jsonl',
            purpose: 'batch',
            maxBytes: config.MAX_FILE_BYTES,
          });
        }
      }
      if (!stored) throw new AppError('BAD_REQUEST', 'The upload has no "file" field.', { param: 'file' });
      checkPurpose(purpose);
      const expiresAfterSeconds = parseExpiresAfter(expiresAfter, 'expires_after') ?? retentionSeconds(config.FILE_RETENTION_DAYS);
      const file = await completeFile(database.db, stored.id, { ...stored, expiresAfterSeconds });
      if (!file) throw new Error(`file ${stored.id} vanished before it was complete`);
      return c.json(fileObject(file));
    } catch (error) {
      if (stored) await deleteFile(database.db, stored.id, owner);
      if (error instanceof MultipartError)
        throw new AppError('BAD_REQUEST', `The multipart body is malformed: ${error.message}.`, { param: 'file' });
      throw error;
    }
  });

  routes.get('/', async (c) => {
    await checkFileCursor(database, c.get('owner'), c.req.query('after'));
    const page = await listFiles(database.db, {
      owner: c.get('owner'),
      purpose: c.req.query('purpose') || undefined,
      after: c.req.query('after') || undefined,
      limit: intParam(c.req.query('limit'), 'limit', { min: 1, max: 10_000, fallback: 10_000 }),
      order: enumParam(c.req.query('order'), 'order', ['asc', 'desc'], 'desc'),
    });
    return c.json(listObject(page.data.map(fileObject), page.hasMore));
  });

  routes.get('/:id', async (c) => {
    const file = await getFile(database.db, c.req.param('id'), c.get('owner'));
    if (!file) throw notFound(c.req.param('id'));
    return c.json(fileObject(file));
  });

  routes.get('/:id/content', async (c) => {
    const file = await getFile(database.db, c.req.param('id'), c.get('owner'));
    if (!file) throw notFound(c.req.param('id'));
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (isStoredFile(file.kind)) headers['content-length'] = String(file.bytes);
    return new Response(toReadableStream(fileContent(database, file)), { headers });
  });

  routes.delete('/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await deleteFile(database.db, id, c.get('owner')))) throw notFound(id);
    return c.json({ id, object: 'file' as const, deleted: true });
  });

  return routes;
}
