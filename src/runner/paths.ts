import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { projectRoot } from '../lib/util/project-root';

export { projectRoot };

function projectRequire(): NodeRequire {
  return createRequire(join(projectRoot(), 'package.json'));
}

/** The tslab launcher script, resolved through the project's own node_modules (never PATH). */
export function tslabBin(): string {
  return join(dirname(projectRequire().resolve('tslab/package.json')), 'bin', 'tslab');
}

/** The version of a package as the project resolves it. */
export function packageVersion(name: string): string {
  return JSON.parse(readFileSync(projectRequire().resolve(`${name}/package.json`), 'utf8')).version;
}

/** Preloaded into each kernel: a parent watchdog and a faster type setup (see kernel-preload.cjs). */
export function kernelPreloadScript(): string {
  return join(projectRoot(), 'src', 'runner', 'kernel-preload.cjs');
}
