import { openAsBlob } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { usageError } from './exit-codes.ts';

/** A batch input file ready to upload. */
export interface InputFile {
  /** The bytes to upload, named as the file. */
  file: File;
  /** The `url` of the first request line, when it has one: the batch's endpoint unless --endpoint says otherwise. */
  endpoint: string | null;
}

/** The first line with content (up to 1 MiB of it). */
async function firstLine(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(1024 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return (
      buffer
        .subarray(0, bytesRead)
        .toString('utf8')
        .split('\n')
        .find((l) => l.trim()) ?? ''
    );
  } finally {
    await handle.close();
  }
}

const urlOf = (line: string): string | null => {
  try {
    const url = (JSON.parse(line) as { url?: unknown }).url;
    return typeof url === 'string' ? url : null;
  } catch {
    return null;
  }
};

/**
 * Replaces `body.model` in every request line. Lines that are not JSON objects are kept as
 * they are, so the gateway reports them with their line numbers.
 */
export function rewriteModel(text: string, model: string): string {
  return text
    .split('\n')
    .map((line) => {
      if (!line.trim()) return line;
      try {
        const request = JSON.parse(line) as { body?: unknown };
        if (typeof request !== 'object' || request === null || typeof request.body !== 'object' || request.body === null) return line;
        return JSON.stringify({ ...request, body: { ...request.body, model } });
      } catch {
        return line;
      }
    })
    .join('\n');
}

/**
 * Opens a batch input file for upload. As it is, the file is streamed from disk; with
 * `model` it is read and rewritten in memory (input files are at most 200 MB).
 */
export async function readInputFile(path: string, { model }: { model?: string | undefined } = {}): Promise<InputFile> {
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) throw usageError(`${path}: no such file; give the path of a JSONL batch input file.`);
  const name = basename(path);
  const endpoint = urlOf(await firstLine(path));
  if (model !== undefined) return { file: new File([rewriteModel(await readFile(path, 'utf8'), model)], name), endpoint };
  return { file: new File([await openAsBlob(path)], name), endpoint };
}
