import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

/**
 * The library reference (`npm run docs`, typedoc.json) must build without a warning: every exported
 * function, class, interface, type alias and variable of the public entry points is documented and
 * every {@link} resolves. typedoc.json treats validation warnings as errors, so an undocumented
 * export fails `npm run docs` too; this test only adds the list of what is wrong.
 */
describe('library reference', () => {
  it('typedoc reports no warnings or errors over the public entry points', () => {
    const config = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as Record<string, unknown>;
    // The guarantee below rests on these settings; without them warnings would not fail the build.
    expect(config.treatValidationWarningsAsErrors).toBe(true);
    expect(config.validation).toMatchObject({ invalidLink: true, notDocumented: true });

    // typedoc is ESM-only and jest runs CommonJS: run its CLI. --emit none checks without writing HTML.
    const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
    const res = spawnSync(process.execPath, [typedoc, '--emit', 'none', '--logLevel', 'Warn'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      timeout: 120_000,
    });
    const output = `${res.stdout ?? ''}${res.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '');
    const problems = output.split('\n').filter((l) => /^\[(warning|error)\]/.test(l) || /^\t/.test(l));
    expect({ exitCode: res.status, problems }).toEqual({ exitCode: 0, problems: [] });
  }, 120_000);
});
