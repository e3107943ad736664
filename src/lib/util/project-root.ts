import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors';

const PACKAGE_NAME = 'cpd-runbook';

/** The nearest folder at or above `start` whose package.json is cpd-runbook's, if any. */
export function findProjectRoot(start: string): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
      } catch {
        // an unreadable package.json is not ours; keep looking
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

let cached: string | undefined;

/**
 * The project root: found above this module, which works from src/ (notebooks, jest) and from
 * dist/src/ (the built CLI); else above the working directory (a tslab kernel runs in the root).
 */
export function projectRoot(): string {
  if (cached) return cached;
  const here = typeof __dirname === 'string' ? __dirname : undefined;
  const found = (here && findProjectRoot(here)) || findProjectRoot(process.cwd());
  if (!found) throw new ConfigError(`cannot find the ${PACKAGE_NAME} project root above ${here ?? process.cwd()}`);
  return (cached = found);
}

/** A path inside the project, e.g. `projectPath('templates', 'deployment_metadata.yml')`. */
export function projectPath(...segments: string[]): string {
  return join(projectRoot(), ...segments);
}

/** This project's version, from its package.json. */
export function projectVersion(): string {
  return (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;
}
