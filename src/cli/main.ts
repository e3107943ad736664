import { Command, CommanderError } from 'commander';
import { Redactor } from '../lib/redact';
import { projectVersion } from '../lib/util/project-root';
import { EXIT_CODE_HELP, ExitCode, exitCodeFor } from './exit-codes';
import { commands } from './commands';

/**
 * Builds the `runbook` program. With `only`, just that subcommand is registered (its module alone is
 * loaded: a quicker start); otherwise every subcommand is, for the root help and unknown commands.
 */
export function buildProgram(only?: string): Command {
  const program = new Command('runbook')
    .description('Deploy and monitor models on IBM Cloud Pak for Data: notebooks, headless runner, sandbox.')
    .version(projectVersion())
    .showHelpAfterError()
    .addHelpText('after', `\n${EXIT_CODE_HELP}`)
    .exitOverride();
  const chosen = commands.filter((c) => c.name === only);
  for (const entry of chosen.length > 0 ? chosen : commands) entry.load()(program);
  return program;
}

/** Entry point of bin/runbook.js. Errors become one clear line on stderr and a documented exit code. */
export async function main(argv: string[]): Promise<void> {
  // `runbook … | head`: a reader that goes away ends the output, not with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.ok);
      throw err;
    });
  }
  const program = buildProgram(argv.find((a) => !a.startsWith('-')));
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
