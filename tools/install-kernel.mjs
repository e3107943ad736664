#!/usr/bin/env node
// Writes this project's tslab kernelspec to <root>/.jupyter/kernels/tslab/kernel.json without Python.
// The kernel always starts in the project root, so notebooks import `./src/lib/...` wherever they live
// (tslab compiles local .ts only under its working directory). Re-run after moving the checkout.
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const tslabBin = join(dirname(require.resolve('tslab/package.json')), 'bin', 'tslab');
// The same preload the headless runner uses: no lost output bursts, a faster start, no orphan kernel.
const preload = join(root, 'src', 'runner', 'kernel-preload.cjs');

const spec = {
  argv: [
    '/bin/sh', '-c', 'cd "$1" && exec "$2" --require "$4" "$3" kernel --config-path "$0"',
    '{connection_file}', root, process.execPath, tslabBin, preload,
  ],
  display_name: 'TypeScript (cpd-runbook)',
  language: 'typescript',
  interrupt_mode: 'signal',
  metadata: { 'cpd-runbook': { cwd: root } },
};

const dir = join(root, '.jupyter', 'kernels', 'tslab');
mkdirSync(dir, { recursive: true });
const file = join(dir, 'kernel.json');
writeFileSync(`${file}.tmp`, JSON.stringify(spec, null, 1) + '\n');
renameSync(`${file}.tmp`, file);
console.log(`cpd-runbook: tslab kernelspec written to ${file} (use JUPYTER_PATH=${join(root, '.jupyter')})`);
