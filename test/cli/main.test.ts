import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../src/lib/util/project-root';
import { assertBuilt } from '../helpers/dist';
import { buildProgram } from '../../src/cli/main';
import { commands } from '../../src/cli/commands';

describe('runbook program', () => {
  it('registers every listed subcommand under its own name', () => {
    const names = buildProgram().commands.map((c) => c.name());
    expect(names.sort()).toEqual(commands.map((c) => c.name).sort());
  });

  it('registers only the invoked subcommand when one is named', () => {
    expect(buildProgram('runs').commands.map((c) => c.name())).toEqual(['runs']);
    // Not a command name (e.g. a typo or an option): everything, so commander can list the choices.
    expect(buildProgram('nope').commands.length).toBe(commands.length);
  });
});

describe('runbook output into a closed pipe', () => {
  it('ends quietly when the reader goes away (runbook … | head)', async () => {
    assertBuilt(['src/cli']);
    const child = spawn(process.execPath, [join(projectRoot(), 'bin', 'runbook.js'), 'run', '--help-notebook', join(projectRoot(), 'notebooks', 'A_MLOps_Pipeline.ipynb')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // Like `| head` that has already exited: the pipe is closed before the CLI writes.
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(code).toBe(0);
  }, 60_000);
});
