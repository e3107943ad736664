import type { Command } from 'commander';
import { connect, resolveProfile } from '../../lib/config';
import { RunbookError, ValidationError } from '../../lib/errors';
import { Plan } from '../../lib/plan';
import { registerProvider, type ProviderRegistration } from '../../lib/provider';
import { ensureProvider, findRunningProvider, providerStateDir, stopProvider } from '../../provider/launcher';
import { serveProvider } from '../../provider/serve';
import { parsePort } from '../option-parsers';

interface SettingsOptions {
  profile?: string;
  space?: string;
  metadata?: string;
}

function parsePositive(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new ValidationError(`${name}: expected a positive integer, got '${value}'`);
    return n;
  };
}

const write = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

function renderRegistration(r: ProviderRegistration, plan?: Plan): string {
  const lines: string[] = [];
  const is = r.integratedSystem;
  lines.push(`integrated system ${is.id}: ${is.outcome}${is.planned ? ' (planned)' : ''}${is.changes.length ? ` — ${is.changes.join('; ')}` : ''}`);
  for (const m of r.monitors) {
    const d = m.definition;
    lines.push(`monitor definition ${d.id}: ${d.outcome}${d.planned ? ' (planned)' : ''}`);
    for (const diff of d.differences) lines.push(`  differs: ${diff} (left as it is; --update-definitions replaces it)`);
  }
  if (plan) lines.push('', 'Plan (nothing was changed):', plan.toText());
  else lines.push('', 'monitor_metadata.yml entries:', ...Object.entries(r.monitorMetadata).map(([id, e]) => `  ${id}: integrated_system_id ${e.integrated_system_id}, provider_endpoint ${e.provider_endpoint}`));
  return lines.join('\n');
}

/** `runbook provider serve|start|stop|register`: the OpenScale custom metrics provider. */
export function register(program: Command): void {
  const cmd = program
    .command('provider')
    .description('the OpenScale custom metrics provider: serve it, run it in the background, register it with OpenScale');

  const settingsHelp = `
Monitor settings (dir_gt, dir_pred, volume_display_name, most_recent) are read at every run from
deployment_metadata.yml: the entry whose openscale_subscription_id is the run's subscription, under
openscale_custom_metric_provider.<monitor id sent by OpenScale>. Give the space it lives in (--space)
or a local copy (--metadata). Monitor ids starting with segmentation_metrics get the segmentation
metrics, ids starting with generic_metrics the image counts.

Calls must carry "Authorization: Bearer <CPD token>"; a token is accepted when the profile's CPD
(OpenScale) accepts it (checked once, cached). OpenScale gets such a token itself through the
registration's token_info (the CPD authorize URL with the profile's user).`;

  cmd
    .command('serve')
    .description('serve the provider in the foreground (POST /score for runs, GET /health); Ctrl-C stops it')
    .option('--port <n>', 'port to listen on (0 = any free port)', parsePort, 0)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox)')
    .option('--space <id>', 'read deployment_metadata.yml from this deployment space')
    .option('--metadata <file>', 'read monitor settings from this local deployment_metadata.yml')
    .option('--max-runs <n>', 'runs computed at once (more wait in line)', parsePositive('--max-runs'), 2)
    .addHelpText('after', settingsHelp)
    .action(async (opts: SettingsOptions & { port: number; host: string; maxRuns: number }) => {
      const served = await serveProvider({
        profile: opts.profile,
        host: opts.host,
        port: opts.port,
        spaceId: opts.space,
        metadataFile: opts.metadata,
        maxConcurrentRuns: opts.maxRuns,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      write(`Provider listening at ${served.endpoint} (profile ${served.profile.name}, settings from ${served.source}, pid ${process.pid})`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      process.stderr.write('stopping the provider\n');
      await served.close();
    });

  cmd
    .command('start')
    .description('start the profile\'s provider in the background, or find the running one (notebooks share it)')
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox)')
    .option('--space <id>', 'read deployment_metadata.yml from this deployment space')
    .option('--metadata <file>', 'read monitor settings from this local deployment_metadata.yml')
    .option('--port <n>', 'port (0 = any free port)', parsePort, 0)
    .option('--json', 'print machine-readable output')
    .addHelpText('after', settingsHelp)
    .action(async (opts: SettingsOptions & { port: number; json?: boolean }) => {
      const ep = await ensureProvider({ profile: opts.profile, spaceId: opts.space, metadataFile: opts.metadata, port: opts.port });
      write(opts.json ? JSON.stringify(ep, null, 2) : `Provider ${ep.startedNow ? 'started' : 'already running'} at ${ep.endpoint} (pid ${ep.pid}, state ${ep.stateDir})`);
    });

  cmd
    .command('stop')
    .description("stop the profile's background provider")
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox)')
    .option('--json', 'print machine-readable output')
    .action(async (opts: { profile?: string; json?: boolean }) => {
      const r = await stopProvider({ profile: opts.profile });
      write(opts.json ? JSON.stringify(r, null, 2) : r.stopped ? `Stopped the provider (pid ${r.pid})` : `No provider runs for ${r.stateDir}`);
    });

  cmd
    .command('register')
    .description('register the provider with OpenScale: the custom_metrics_provider integrated system and the segmentation_metrics and generic_metrics monitor definitions (find-or-create)')
    .option('--endpoint <url>', "the URL OpenScale posts runs to (default: the profile's running background provider)")
    .option('--name <name>', 'integrated system name')
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox)')
    .option('--plan', 'only show what would change')
    .option('--update-definitions', 'replace monitor definitions whose metrics or default thresholds differ (default: report only)')
    .option('--rotate-credentials', "rewrite the stored login even if OpenScale's masked view shows no change (after an API key change)")
    .option('--json', 'print machine-readable output')
    .addHelpText(
      'after',
      `
The integrated system stores the profile's CPD user name and API key (or password) in OpenScale, which
logs in with them before each run; they are not printed. Print the monitor_metadata.yml entries with --json.`,
    )
    .action(async (opts: { endpoint?: string; name?: string; profile?: string; plan?: boolean; updateDefinitions?: boolean; rotateCredentials?: boolean; json?: boolean }) => {
      const profile = await resolveProfile({ profile: opts.profile });
      let endpoint = opts.endpoint;
      if (!endpoint) {
        const running = await findRunningProvider(providerStateDir(profile));
        if (!running) {
          throw new RunbookError('usage', `no --endpoint given and no background provider runs for profile ${profile.name}: give --endpoint URL, or start one (runbook provider start --space ID)`);
        }
        endpoint = running.endpoint;
      }
      const clients = connect(profile);
      try {
        const plan = opts.plan ? new Plan() : undefined;
        const r = await registerProvider(clients, {
          endpointUrl: endpoint,
          name: opts.name,
          plan,
          onDefinitionDifference: opts.updateDefinitions ? 'update' : 'report',
          rotateCredentials: opts.rotateCredentials,
        });
        if (opts.json) {
          write(
            JSON.stringify(
              {
                integratedSystem: { id: r.integratedSystem.id, outcome: r.integratedSystem.outcome, planned: r.integratedSystem.planned, changes: r.integratedSystem.changes },
                monitors: r.monitors.map((m) => ({ id: m.definition.id, outcome: m.definition.outcome, planned: m.definition.planned, differences: m.definition.differences })),
                monitorMetadata: r.monitorMetadata,
                plan: plan?.changes,
              },
              null,
              2,
            ),
          );
        } else write(renderRegistration(r, plan));
      } finally {
        clients.close();
      }
    });
}
