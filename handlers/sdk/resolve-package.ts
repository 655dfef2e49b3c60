import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The `exports` conditions of an `import` (what Node's and Bun's ESM resolvers use). */
const CONDITIONS = new Set(['import', 'node', 'default']);

/**
 * Resolves a package name (`@acme/handlers`, `@acme/handlers/crm`) as an `import` written in
 * `from` would: from the nearest `node_modules` upwards, honouring the `import` condition of
 * `exports`. (`require.resolve` refuses an ESM-only package, and picks the CommonJS side of a
 * dual one.) Undefined when no folder above `from` has the package.
 */
export function resolvePackage(from: string, spec: string): string | undefined {
  const parts = spec.split('/');
  const name = parts.slice(0, spec.startsWith('@') ? 2 : 1).join('/');
  const subpath = ['.', ...parts.slice(spec.startsWith('@') ? 2 : 1)].join('/');
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const root = join(dir, 'node_modules', name);
    if (existsSync(join(root, 'package.json'))) {
      const { exports } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports?: unknown };
      if (exports === undefined) break;
      const target = exportTarget(exports, subpath);
      return target === undefined ? undefined : join(root, target);
    }
    if (dirname(dir) === dir) break;
  }
  // No `exports`: `main` or index files, which require's resolution reads the same way.
  try {
    return createRequire(from).resolve(spec);
  } catch {
    return undefined;
  }
}

function exportTarget(exports: unknown, subpath: string): string | undefined {
  const map = exports as Record<string, unknown>;
  const isSubpathMap =
    !!exports && typeof exports === 'object' && !Array.isArray(exports) && Object.keys(map).some((k) => k.startsWith('.'));
  if (!isSubpathMap) return subpath === '.' ? conditionTarget(exports) : undefined;
  if (subpath in map) return conditionTarget(map[subpath]);
  for (const [key, value] of Object.entries(map)) {
    const star = key.indexOf('*');
    if (star < 0 || !subpath.startsWith(key.slice(0, star)) || !subpath.endsWith(key.slice(star + 1))) continue;
    const match = subpath.slice(star, subpath.length - (key.length - star - 1));
    return conditionTarget(value)?.replaceAll('*', match);
  }
  return undefined;
}

function conditionTarget(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(conditionTarget).find((t) => t !== undefined);
  if (!value || typeof value !== 'object') return undefined;
  for (const [condition, target] of Object.entries(value)) {
    if (!CONDITIONS.has(condition)) continue;
    const found = conditionTarget(target);
    if (found !== undefined) return found;
  }
  return undefined;
}
