import { AppError } from '../../core/errors.ts';

/** An integer query parameter within bounds, or its default when absent. */
export function intParam(
  value: string | undefined,
  name: string,
  { min, max, fallback }: { min: number; max: number; fallback: number },
): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new AppError('BAD_REQUEST', `${name} must be an integer from ${min} to ${max}.`, { param: name });
  }
  return n;
}

/** One of the allowed values of a query parameter, or its default when absent. */
export function enumParam<T extends string>(value: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new AppError('BAD_REQUEST', `${name} must be one of ${allowed.join(', ')}.`, { param: name });
  }
  return value as T;
}

/** `inputFileId` → `input_file_id`: REST reports parameters as OpenAI spells them. */
export const snakeCase = (path: string) => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
