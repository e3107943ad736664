import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { projectRoot } from '../../src/lib/util/project-root';

function tsFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return path.endsWith('.ts') ? [path] : [];
  return readdirSync(path).flatMap((name) => tsFiles(join(path, name)));
}

/**
 * Tests that run the compiled code (the CLI, detached servers) fail clearly when dist/ is missing or
 * older than the sources they exercise. `paths` are files or folders relative to the project root.
 * (`npm test` builds first; this guards a direct `npx jest`.)
 */
export function assertBuilt(paths: readonly string[]): void {
  const root = projectRoot();
  const stale = paths
    .flatMap((p) => tsFiles(join(root, p)))
    .filter((src) => {
      const js = join(root, 'dist', relative(root, src)).replace(/\.ts$/, '.js');
      return !existsSync(js) || statSync(js).mtimeMs < statSync(src).mtimeMs;
    })
    .map((src) => relative(root, src));
  if (stale.length > 0) throw new Error(`dist/ is missing or older than ${stale.slice(0, 3).join(', ')}: run \`npm run build\` before these tests`);
}
