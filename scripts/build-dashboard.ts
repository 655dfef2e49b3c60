// `npm run build:dashboard` (and `npm start`, before it starts): bundles the dashboard's
// TypeScript (gateway/dashboard/client/) for browsers into gateway/dashboard/dist/ (git-ignored).
// It builds into a folder of its own, then renames each file over the old one: a gateway serving
// them never finds the folder missing or a file half written, and two builds at once (test files
// in parallel) each put whole files in place.
// uPlot's stylesheet (the charts' legend and cursor) is copied beside the script as uplot.css.
import { copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const client = fileURLToPath(new URL('../gateway/dashboard/client/main.ts', import.meta.url));
const distdir = fileURLToPath(new URL('../gateway/dashboard/dist/', import.meta.url));
const outdir = `${distdir}.build-${process.pid}/`;
await mkdir(outdir, { recursive: true });

const result = await Bun.build({
  entrypoints: [client],
  outdir,
  naming: 'app.js',
  target: 'browser',
  format: 'esm',
  minify: true,
  sourcemap: 'linked',
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  await rm(outdir, { recursive: true, force: true });
  process.exit(1);
}
await copyFile(fileURLToPath(import.meta.resolve('uplot/dist/uPlot.min.css')), `${outdir}uplot.css`);
const bytes = result.outputs.filter((o) => o.kind === 'entry-point').reduce((n, o) => n + o.size, 0);
for (const name of await readdir(outdir)) await rename(`${outdir}${name}`, `${distdir}${name}`);
await rm(outdir, { recursive: true, force: true });
console.log(`dashboard built: gateway/dashboard/dist/app.js (${(bytes / 1024).toFixed(1)} KiB)`);
