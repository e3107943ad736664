import type { Command } from 'commander';
import { connect, resolveProfile, type ProfileClients } from '../../lib/config';
import { RunbookError, ValidationError } from '../../lib/errors';
import { findSubscriptionByName, monitorStatus, runFailureMessage, startRun, subscriptionNameFor, waitForRun } from '../../lib/openscale';
import { statusText } from '../../lib/pipeline/status-view';

const write = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

async function withClients<T>(profileName: string | undefined, fn: (clients: ProfileClients) => Promise<T>): Promise<T> {
  const clients = connect(await resolveProfile({ profile: profileName }));
  try {
    return await fn(clients);
  } finally {
    clients.close();
  }
}

/** `runbook monitor status|run`: the OpenScale monitors of a deployment. */
export function register(program: Command): void {
  const cmd = program.command('monitor').description("OpenScale monitors of a deployment: status (last run, latest measurement with limits and breaches) and evaluation runs");

  cmd
    .command('status')
    .description('last run and latest measurement of every monitor on a subscription, with limits and breaches')
    .option('--subscription <id>', 'OpenScale subscription id')
    .option('--deployment <name>', 'deployment name (its subscription is "<name> Monitor")')
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox)')
    .option('--fail-on-breach', 'exit 10 when a metric breaks its limits')
    .option('--json', 'print machine-readable output')
    .addHelpText(
      'after',
      `
Exit status: 0 (also with breaches, unless --fail-on-breach); 10 with --fail-on-breach when the latest
measurement of any monitor has a metric beyond its limits (the status is printed first); 9 when
OpenScale answers with an error; 8 for an unknown deployment name.`,
    )
    .action(async (opts: { subscription?: string; deployment?: string; profile?: string; failOnBreach?: boolean; json?: boolean }) => {
      if (Boolean(opts.subscription) === Boolean(opts.deployment)) throw new RunbookError('usage', 'give exactly one of --subscription ID or --deployment NAME');
      const status = await withClients(opts.profile, async (clients) => {
        let id = opts.subscription;
        if (!id) {
          const name = subscriptionNameFor(opts.deployment as string);
          const sub = await findSubscriptionByName(clients.openscale, name);
          if (!sub) throw new ValidationError(`no OpenScale subscription is named "${name}" (deployment ${opts.deployment})`, [{ path: '--deployment', message: 'no such subscription' }]);
          id = sub.metadata.id;
        }
        return monitorStatus(clients.openscale, id);
      });
      write(opts.json ? JSON.stringify(status, null, 2) : statusText(status));
      if (opts.failOnBreach && status.breaches > 0) {
        throw new RunbookError('breach', `${status.breaches} metric${status.breaches === 1 ? '' : 's'} of subscription ${status.subscriptionId} break their limits`);
      }
    });

  cmd
    .command('run')
    .description('trigger an evaluation run of a monitor instance')
    .requiredOption('--instance <id>', 'monitor instance id')
    .option('--wait', 'wait until the run has finished or failed')
    .option('--timeout <seconds>', 'how long --wait waits', '600')
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox)')
    .option('--json', 'print machine-readable output')
    .addHelpText('after', '\nExit status: 0 started (or finished with --wait); 9 the run ended in error or OpenScale refused it; 5 --wait timed out.')
    .action(async (opts: { instance: string; wait?: boolean; timeout: string; profile?: string; json?: boolean }) => {
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new RunbookError('usage', `--timeout: expected a positive number of seconds, got '${opts.timeout}'`);
      await withClients(opts.profile, async (clients) => {
        const started = await startRun(clients.openscale, opts.instance);
        if (!opts.wait) {
          write(opts.json ? JSON.stringify({ runId: started.id, state: started.run?.entity.status.state }, null, 2) : `Run ${started.id} started (${started.run?.entity.status.state})`);
          return;
        }
        let last = '';
        const run = await waitForRun(clients.openscale, opts.instance, started.id, {
          timeoutMs: timeout * 1000,
          onProgress: (p) => {
            if (p.state !== last && !opts.json) process.stderr.write(`run ${started.id}: ${p.state} (${Math.round(p.elapsedMs / 1000)} s)\n`);
            last = p.state;
          },
        });
        const error = runFailureMessage(run);
        write(
          opts.json
            ? JSON.stringify({ runId: run.metadata.id, state: run.entity.status.state, error, completedAt: run.entity.status.completed_at }, null, 2)
            : `Run ${run.metadata.id} ${run.entity.status.state}${error ? `: ${error}` : ''}`,
        );
        if (error !== undefined) throw new RunbookError('remote', `run ${run.metadata.id} of monitor instance ${opts.instance} ended in error: ${error}`);
      });
    });
}
