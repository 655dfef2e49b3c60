// `npm run lint`: enforces the module boundaries of STYLE.md. Usage: bun scripts/check-boundaries.ts [ROOT]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = resolve(process.argv[2] ?? '.');
const SOURCE = /\.(ts|tsx|mts|js|mjs)$/;
const SKIP = new Set(['node_modules', '.data', '.git', 'migrations', 'bench', 'dist']);
const IMPORT =
  /(?:^|[^\w.])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w.])import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) yield path;
  }
}

/** The area of a repo-relative path: `gateway`, `handlers/sdk`, `handlers/<name>`, ... */
function area(path: string): string {
  const parts = path.split(sep);
  if (parts[0] === 'handlers' && parts.length > 2) return `handlers/${parts[1]}`;
  if (parts[0] === 'docs' && parts[1] === 'examples') return 'examples';
  return parts.length > 1 ? (parts[0] ?? '') : '(root)';
}

/** Which areas each area may import (besides itself). Absent areas are unrestricted. */
const ALLOWED: Record<string, (target: string) => boolean> = {
  schema: () => false,
  core: (t) => t === 'schema',
  'handlers/sdk': () => false,
  gateway: (t) => ['core', 'schema', 'handlers/sdk'].includes(t) || t === 'handlers',
  fleet: (t) => ['core', 'schema', 'handlers/sdk'].includes(t) || t === 'handlers',
  examples: (t) => t === 'handlers/sdk',
  // The CLI is a client of the gateway's HTTP API: it shares no code with the server.
  cli: () => false,
};

const problems: string[] = [];
const isEntry = (file: string) => /(^|\/)(entry|scripts)\//.test(file) || /\.(bun|deno)\.ts$/.test(file) || file.startsWith('test/');

for (const path of walk(root)) {
  const file = relative(root, path);
  const from = area(file);
  const text = readFileSync(path, 'utf8');
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2] ?? match[3];
    if (!spec?.startsWith('.')) continue;
    const target = relative(root, resolve(dirname(path), spec));
    if (target.startsWith('..')) continue;
    const to = area(target);
    if (to === from) continue;
    if ((to === 'scripts' || to === 'test') && from !== to) {
      problems.push(`${file}: imports ${spec}; nothing may import ${to}/`);
      continue;
    }
    if (from.startsWith('handlers/') && from !== 'handlers/sdk' && to !== 'handlers/sdk') {
      problems.push(`${file}: imports ${spec}; a handler imports only the handler SDK (handlers/sdk)`);
      continue;
    }
    const allowed = ALLOWED[from];
    if (allowed && !allowed(to)) problems.push(`${file}: imports ${spec}; ${from}/ may not import ${to}/`);
  }
  const code = text.replace(/^\s*(\/\/|\*).*$/gm, '');
  if (/\bBun\.\w/.test(code) && !isEntry(file)) {
    problems.push(`${file}: uses a Bun.* API; keep them in entry files (*/entry/*, scripts/, *.bun.ts) so the logic runs on Node`);
  }
  if (/\bDeno\.\w/.test(code) && !isEntry(file)) {
    problems.push(`${file}: uses a Deno.* API; keep them in entry files (*/entry/*, *.deno.ts)`);
  }
  if (/process\.env\b/.test(code) && !/(^|\/)config\.ts$/.test(file) && !file.startsWith('test/')) {
    problems.push(`${file}: reads the environment; only a config.ts may`);
  }
}

if (problems.length) {
  console.error(`Module boundary violations (see STYLE.md):\n${problems.map((p) => `  ${p}`).join('\n')}`);
  process.exit(1);
}
console.log('module boundaries: ok');
