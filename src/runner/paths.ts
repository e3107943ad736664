import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const PACKAGE_NAME = 'cpd-runbook';

let cachedRoot: string | undefined;

/**
 * The project root: the nearest ancestor of this module holding the cpd-runbook package.json.
 * Works from src/ (notebooks, jest) and from dist/src/ (the built CLI) alike.
 */
export function projectRoot(): string {
  if (cachedRoot) return cachedRoot;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === PACKAGE_NAME) return (cachedRoot = dir);
      } catch {
        // an unreadable package.json is not ours; keep looking
      }
    }
    if (dirname(dir) === dir) throw new Error(`cannot find the ${PACKAGE_NAME} project root above ${__dirname}`);
  }
}

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

/** This project's version (the runner ships with it). */
export function runnerVersion(): string {
  return JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')).version;
}

/** Preloaded into each kernel: a parent watchdog and a faster type setup (see kernel-preload.cjs). */
export function kernelPreloadScript(): string {
  return join(projectRoot(), 'src', 'runner', 'kernel-preload.cjs');
}
