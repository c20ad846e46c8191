// Builds the dashboard into ./dist: one script and one stylesheet under
// dist/assets, and dist/index.html. Run through scripts/dashboard-build.sh.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';

await rm('dist', { recursive: true, force: true });
await mkdir('dist/assets', { recursive: true });
await build({
  entryPoints: { app: 'src/app.js' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  outdir: 'dist/assets',
  legalComments: 'linked',
  logLevel: 'info',
});
await copyFile('src/index.html', 'dist/index.html');
