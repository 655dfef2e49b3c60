import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { isHandlerDefinition } from './define-handler.ts';
import { HandlerOptionsError, ManifestError } from './errors.ts';
import { expandEnv } from './expand-env.ts';
import { createHandlerRegistry, installHandler, type HandlerRegistry, type InstalledHandler } from './registry.ts';
import { resolvePackage } from './resolve-package.ts';

/** The shape of a manifest file. */
export const manifestSchema = z
  .object({
    handlers: z.array(
      z
        .object({
          /** A path relative to the manifest (`./audit/index.ts`) or a package name. */
          module: z.string().min(1),
          /** Deployment options; `${NAME}` and `${NAME:-default}` are read from the environment. */
          options: z.record(z.string(), z.unknown()).optional(),
          /**
           * Handlers this one runs after, added to its definition's own `after`: how a deployment
           * orders handlers whose authors did not know of each other (labelStudio after an extractor).
           */
          after: z.array(z.string().min(1), { error: 'expected a list of handler names' }).optional(),
        })
        .strict(),
    ),
    /**
     * More order, by handler name: `{ "labelStudio": ["extractAnswers"] }`. For handlers another
     * manifest installed (the built-in ones), whose entries this manifest cannot touch.
     */
    after: z.record(z.string(), z.array(z.string().min(1), { error: 'expected a list of handler names' })).optional(),
  })
  .strict();

/** Options for {@link loadHandlerRegistry}. */
export interface LoadManifestsOptions {
  /** Manifest files, in order; relative paths are taken from the working directory. */
  manifests: string[];
  /** The environment `${NAME}` references are read from (the process passes its own, from its config). */
  env: Record<string, string | undefined>;
}

/**
 * Loads every manifest and the handler modules they list, and builds the registry. Throws
 * a {@link ManifestError} naming the file and the problem: unreadable file, bad JSON, a
 * module that does not load or is not a handler, deployment options that do not validate,
 * a handler name installed twice, an `after` naming a handler not installed or closing a circle.
 */
export async function loadHandlerRegistry({ manifests, env }: LoadManifestsOptions): Promise<HandlerRegistry> {
  const installed: InstalledHandler[] = [];
  const orders: { file: string; after: Record<string, string[]> }[] = [];
  for (const manifest of manifests) {
    const loaded = await loadManifest(resolve(manifest), env, installed);
    installed.push(...loaded.handlers);
    if (loaded.after) orders.push({ file: loaded.file, after: loaded.after });
  }
  // A top-level `after` may order a handler of any manifest, so it is applied once all are loaded.
  for (const { file, after } of orders) {
    for (const [name, names] of Object.entries(after)) {
      const at = installed.findIndex((h) => h.name === name);
      const handler = installed[at];
      if (!handler) {
        const known = installed.map((h) => h.name).join(', ');
        throw new ManifestError(
          file,
          `after.${name}: no handler named "${name}" is installed (installed: ${known}); fix the name or remove it`,
        );
      }
      const unknown = names.find((n) => !installed.some((h) => h.name === n));
      if (unknown !== undefined) {
        const known = installed.map((h) => h.name).join(', ');
        throw new ManifestError(
          file,
          `after.${name}: "${unknown}" is not installed (installed: ${known}); install it or remove it from the list`,
        );
      }
      // A circle is found with the rest of the order when the registry is made.
      installed[at] = { ...handler, after: [...(handler.after ?? []), ...names] };
    }
  }
  return createHandlerRegistry(installed);
}

async function loadManifest(
  file: string,
  env: Record<string, string | undefined>,
  before: InstalledHandler[],
): Promise<{ file: string; handlers: InstalledHandler[]; after?: Record<string, string[]> }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ManifestError(file, `cannot be read (${(error as Error).message})`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(file, `is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const shape = manifestSchema.safeParse(json);
  if (!shape.success) {
    const issue = shape.error.issues[0];
    throw new ManifestError(
      file,
      `${issue?.path.join('.') || '(top level)'}: ${issue?.message}; expected { "handlers": [ { "module": "...", "options": { ... }, "after": ["handlerName"] } ] }`,
    );
  }

  const out: InstalledHandler[] = [];
  for (const [index, entry] of shape.data.handlers.entries()) {
    const where = `handlers[${index}] (${entry.module})`;
    const expanded = expandEnv(entry.options ?? {}, env, `handlers[${index}].options`);
    if (!expanded.ok) throw new ManifestError(file, expanded.problem);
    const definition = await importHandler(file, entry.module, where);
    let handler: InstalledHandler;
    try {
      handler = installHandler(definition, expanded.value, { manifest: file, module: entry.module, after: entry.after });
    } catch (error) {
      const detail =
        error instanceof HandlerOptionsError
          ? `deployment options of handler "${definition.name}" do not validate: ${error.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`
          : `handler "${definition.name}" cannot be installed: ${(error as Error).message}`;
      throw new ManifestError(file, `${where}: ${detail}`, { cause: error });
    }
    const other = [...before, ...out].find((h) => h.name === handler.name);
    if (other)
      throw new ManifestError(
        file,
        `${where}: a handler named "${handler.name}" is already installed by ${other.manifest} (${other.module}); handler names must be unique`,
      );
    out.push(handler);
  }
  return { file, handlers: out, after: shape.data.after };
}

async function importHandler(file: string, spec: string, where: string) {
  const url = resolveModule(file, spec);
  let mod: { default?: unknown };
  try {
    mod = await import(url);
  } catch (error) {
    throw new ManifestError(file, `${where}: the module does not load (${url}): ${(error as Error).message}`, { cause: error });
  }
  if (!isHandlerDefinition(mod.default)) {
    throw new ManifestError(file, `${where}: the module does not default-export a handler (export default defineHandler({ ... }))`);
  }
  return mod.default;
}

/** A path is taken relative to the manifest; a package name is resolved from the manifest's folder, then from this project. */
function resolveModule(file: string, spec: string): string {
  if (spec.startsWith('.') || isAbsolute(spec)) return pathToFileURL(resolve(dirname(file), spec)).href;
  const found = resolvePackage(file, spec);
  return found ? pathToFileURL(found).href : spec;
}
