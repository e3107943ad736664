import { Command, CommanderError } from 'commander';
import { Redactor } from '../lib/redact';
import { EXIT_CODE_HELP, ExitCode, exitCodeFor } from './exit-codes';
import { commands } from './commands';

/** Builds the `runbook` program with every subcommand registered. */
export function buildProgram(): Command {
  const program = new Command('runbook')
    .description('Deploy and monitor models on IBM Cloud Pak for Data: notebooks, headless runner, sandbox.')
    .version(require('../../../package.json').version as string)
    .showHelpAfterError()
    .addHelpText('after', `\n${EXIT_CODE_HELP}`)
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

/** Entry point of bin/runbook.js. Errors become one clear line on stderr and a documented exit code. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; anything else commander rejects is a usage error.
      process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`runbook: ${Redactor.fromEnv().redact(message)}\n`);
    if (process.env.RUNBOOK_DEBUG && err instanceof Error && err.stack) {
      process.stderr.write(Redactor.fromEnv().redact(err.stack) + '\n');
    }
    process.exitCode = exitCodeFor(err);
  }
}
