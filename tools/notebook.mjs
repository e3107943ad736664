#!/usr/bin/env node
// `npm run notebook`: open Jupyter on this project with the project's own tslab kernelspec.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const jupyterPath = join(root, '.jupyter');
if (!existsSync(join(jupyterPath, 'kernels', 'tslab', 'kernel.json'))) {
  console.error('The tslab kernelspec is missing: run `npm ci` (or `node tools/install-kernel.mjs`) first.');
  process.exit(1);
}
const has = (sub) => spawnSync('jupyter', [sub, '--version'], { stdio: 'ignore' }).status === 0;
const app = has('lab') ? 'lab' : has('notebook') ? 'notebook' : null;
if (!app) {
  console.error([
    'Jupyter is not installed. Install one of:',
    '  sudo apt-get install -y jupyter-notebook        # Debian/Ubuntu: classic Notebook',
    '  pip install jupyterlab                          # JupyterLab from PyPI',
    'then run `npm run notebook` again. Headless runs need no Jupyter: `npx runbook run NOTEBOOK`.',
  ].join('\n'));
  process.exit(1);
}
const child = spawn('jupyter', [app, '--notebook-dir', root, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, JUPYTER_PATH: [jupyterPath, process.env.JUPYTER_PATH].filter(Boolean).join(':') },
});
child.on('exit', (code) => process.exit(code ?? 1));
