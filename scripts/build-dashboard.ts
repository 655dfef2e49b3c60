// `npm run build:dashboard` (and `npm start`, before it starts): bundles the dashboard's
// TypeScript (gateway/dashboard/client/) for browsers into gateway/dashboard/dist/ (git-ignored).
// It overwrites the files in place, so a gateway serving them never finds the folder missing.
// uPlot's stylesheet (the charts' legend and cursor) is copied beside the script as uplot.css.
import { copyFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const client = fileURLToPath(new URL('../gateway/dashboard/client/main.ts', import.meta.url));
const outdir = fileURLToPath(new URL('../gateway/dashboard/dist/', import.meta.url));

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
  process.exit(1);
}
await copyFile(fileURLToPath(import.meta.resolve('uplot/dist/uPlot.min.css')), `${outdir}uplot.css`);
const bytes = result.outputs.filter((o) => o.kind === 'entry-point').reduce((n, o) => n + o.size, 0);
console.log(`dashboard built: gateway/dashboard/dist/app.js (${(bytes / 1024).toFixed(1)} KiB)`);
