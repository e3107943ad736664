import { describe, expect, it } from '@jest/globals';
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
