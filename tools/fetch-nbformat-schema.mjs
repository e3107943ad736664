#!/usr/bin/env node
// Tests validate every notebook the runner writes against the official nbformat 4.5 JSON schema.
// The schema ships in Debian's python3-nbformat package; we only extract its JSON file into
// .cache/ (no Python involved), so the project never carries a copy of it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, '.cache', 'nbformat', 'nbformat.v4.5.schema.json');
const systemCopy = '/usr/lib/python3/dist-packages/nbformat/v4/nbformat.v4.5.schema.json';
mkdirSync(dirname(target), { recursive: true });
if (existsSync(target)) process.exit(0);
if (existsSync(systemCopy)) {
  copyFileSync(systemCopy, target);
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), 'nbformat-'));
try {
  execFileSync('apt-get', ['download', 'python3-nbformat'], { cwd: work, stdio: 'ignore' });
  const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
  execFileSync('dpkg-deb', ['-x', join(work, deb), join(work, 'x')]);
  copyFileSync(join(work, 'x', systemCopy), target);
  console.log(`nbformat 4.5 schema extracted from Debian's ${deb}`);
} catch (err) {
  console.error(`Could not obtain the nbformat 4.5 schema (${err.message}).\n` +
    `Install Debian's python3-nbformat, or copy nbformat.v4.5.schema.json to ${target}.`);
  process.exit(1);
} finally {
  rmSync(work, { recursive: true, force: true });
}
