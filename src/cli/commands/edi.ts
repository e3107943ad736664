import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { RunbookError, ValidationError } from '../../lib/errors';
import { FileMetadataStore } from '../../lib/metadata/file-store';
import { DeploymentEntry, type DeploymentEntryInput } from '../../lib/metadata/schema';
import { updateWithRetry } from '../../lib/metadata/store';
import { deploymentMetadataCodec, loadYaml, parseDeploymentMetadata } from '../../lib/metadata/yaml';
import { Plan } from '../../lib/plan';
import { deployFromMetadata } from '../../lib/wmla/deploy-flow';
import { createEdiClient, ModelNotFoundError, type EdiClient } from '../../lib/wmla/edi';
import { formatChange } from '../../lib/wmla/profile-mapping';
import { clientsFor, collect, pairsFlag, printJson, processContext, profileOptions, secondsFlag, WaitDisplay, type CliContext, type ProfileFlags } from './wmla-cli';

function readText(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new RunbookError('usage', `${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** The entry of a deployment metadata file: `--asset-id`, or the only one. */
export function pickEntry(file: string, assetId: string | undefined): { assetId: string; entry: DeploymentEntryInput } {
  const doc = parseDeploymentMetadata(readText(file, 'metadata file'), file);
  const ids = Object.keys(doc);
  if (assetId !== undefined) {
    const entry = doc[assetId];
    if (!entry) throw new ValidationError(`${file} has no entry for model asset id ${assetId} (it has: ${ids.join(', ') || 'none'})`, [{ path: assetId, message: 'missing' }]);
    return { assetId, entry };
  }
  if (ids.length !== 1) throw new RunbookError('usage', `${file} has ${ids.length} entries (${ids.join(', ') || 'none'}): choose one with --asset-id`);
  return { assetId: ids[0]!, entry: doc[ids[0]!]! };
}

/** Runs `fn` with an EDI client of the profile. */
async function withEdi<T>(flags: ProfileFlags, ctx: CliContext, fn: (edi: EdiClient, redact: <V>(v: V) => V) => Promise<T>): Promise<T> {
  const clients = await clientsFor(flags, ctx);
  try {
    return await fn(createEdiClient(clients), (v) => clients.profile.redactor.redactDeep(v));
  } finally {
    clients.close();
  }
}

/** Flags of `runbook edi deploy`. */
export interface DeployFlags extends ProfileFlags {
  readonly assetId?: string;
  readonly dependencyFolder: string;
  readonly kernel?: string;
  readonly customArg?: string[];
  readonly stop?: boolean;
  readonly writeUrl?: boolean;
  readonly timeout?: string;
  readonly plan?: boolean;
}

/** `runbook edi deploy <metadata.yml>`: the whole A2 flow. Exported for tests. */
export async function ediDeploy(file: string, flags: DeployFlags, ctx: CliContext): Promise<void> {
  const { assetId, entry } = pickEntry(file, flags.assetId);
  const customArgs = pairsFlag(flags.customArg, '--custom-arg');
  const timeoutMs = secondsFlag(flags.timeout, '--timeout') ?? 5 * 60 * 1000;
  await withEdi(flags, ctx, async (edi, redact) => {
    const plan = flags.plan ? new Plan() : undefined;
    const display = new WaitDisplay(ctx, 'waiting until ready', timeoutMs);
    let result;
    try {
      result = await deployFromMetadata(edi, entry, {
        dependencyFolder: flags.dependencyFolder,
        kernelFilename: flags.kernel,
        customArgs: Object.keys(customArgs).length ? customArgs : undefined,
        stopIfRunning: flags.stop !== false,
        readyTimeoutMs: timeoutMs,
        plan,
        onStep: flags.json ? undefined : (_step, detail) => ctx.err(`${detail}\n`),
        onProgress: (p) => display.update(`${p.state}${p.kernels.length ? `, kernels ${p.kernels.join(' ')}` : ''}`, p.elapsedMs),
      });
    } finally {
      display.stop();
    }
    if (flags.writeUrl && result.serviceUri && !plan) {
      const store = new FileMetadataStore(file, deploymentMetadataCodec);
      const url = result.serviceUri;
      await updateWithRetry(store, (doc) => {
        const e = doc[assetId];
        if (e) e.wmla_deployment.deployment_url = url;
        return doc;
      });
    }
    if (flags.json) {
      printJson(ctx, redact({ name: result.name, serviceUri: result.serviceUri, deploy: result.deploy.outcome, profile: result.profile?.outcome, profileChanges: result.profile?.changes ?? [], start: result.start.outcome, planned: result.planned, plan: plan?.changes ?? [] }));
      return;
    }
    if (plan) {
      ctx.out(`${plan.toText()}\n`);
      return;
    }
    const changes = result.profile?.changes.length ? ` (${result.profile.changes.map(formatChange).join(', ')})` : '';
    ctx.out(`${result.name}: deploy ${result.deploy.outcome}, profile ${result.profile?.outcome ?? 'n/a'}${changes}, ${result.start.outcome}; ready at ${result.serviceUri}\n`);
    if (flags.writeUrl) ctx.out(`wrote deployment_url to ${file}\n`);
  });
}

/** `runbook edi status [name]`. Exported for tests. */
export async function ediStatus(name: string | undefined, flags: ProfileFlags, ctx: CliContext): Promise<void> {
  await withEdi(flags, ctx, async (edi, redact) => {
    if (name === undefined) {
      const list = await edi.listModels();
      if (flags.json) printJson(ctx, redact(list));
      else ctx.out(list.length ? list.map((m) => `${m.name}  ${m.service_uri || '-'}`).join('\n') + '\n' : 'no models deployed\n');
      return;
    }
    const d = await edi.describeModel(name);
    if (!d) throw new ModelNotFoundError(name);
    if (flags.json) {
      printJson(ctx, redact({ phase: d.phase, model: d.model, instance: d.instance, profile: d.profile }));
      return;
    }
    const kernels = (d.instance.instances ?? []).flatMap((i) => i.isd_container.map((k) => k.container_status));
    const p = d.profile;
    ctx.out(
      [
        `Name:        ${d.model.name}`,
        `State:       ${d.phase} (instance ${d.instance.state})`,
        `Service URI: ${d.model.service_uri || '-'}`,
        `Kernels:     ${kernels.join(', ') || '-'}`,
        `Replicas:    ${p.replica}; kernels ${p.policy.kernel_min}..${p.policy.kernel_max}; GPU ${p.kernel.gpu}; ${p.resource_allocation.kernel.resources}`,
        `Timeouts:    task ${p.policy.task_execution_timeout} s, release ${p.policy.kernel_delay_release_time} s`,
      ].join('\n') + '\n',
    );
  });
}

/** `runbook edi profile <name>`: show it, or apply resource settings. Exported for tests. */
export async function ediProfile(name: string, flags: ProfileFlags & { resources?: string; metadata?: string; assetId?: string; stop?: boolean; plan?: boolean }, ctx: CliContext): Promise<void> {
  let resources: unknown;
  if (flags.resources !== undefined) resources = loadYaml(flags.resources, '--resources');
  else if (flags.metadata !== undefined) resources = DeploymentEntry.parse(pickEntry(flags.metadata, flags.assetId).entry).wmla_deployment.resource_configs;
  await withEdi(flags, ctx, async (edi, redact) => {
    if (resources === undefined) {
      const profile = await edi.getProfile(name);
      ctx.out(JSON.stringify(redact(profile), null, 2) + '\n');
      return;
    }
    const plan = flags.plan ? new Plan() : undefined;
    const result = await edi.applyResourceConfigs(name, resources as never, { stopIfRunning: flags.stop, plan });
    if (flags.json) printJson(ctx, redact({ outcome: result.outcome, changes: result.changes, stopped: result.stopped, planned: result.planned, plan: plan?.changes ?? [] }));
    else if (plan) ctx.out(`${plan.toText()}\n`);
    else ctx.out(result.outcome === 'unchanged' ? `${name}: profile unchanged\n` : `${name}: profile updated: ${result.changes.map(formatChange).join(', ')}${result.stopped ? ' (the model was stopped; start it again)' : ''}\n`);
  });
}

/** `runbook edi infer <name>`. Exported for tests. */
export async function ediInfer(name: string, flags: ProfileFlags & { data?: string; dataFile?: string; timeout?: string }, ctx: CliContext): Promise<unknown> {
  if ((flags.data === undefined) === (flags.dataFile === undefined)) throw new RunbookError('usage', 'give the request body with --data JSON or --data-file FILE');
  const text = flags.data ?? readText(flags.dataFile!, '--data-file');
  try {
    JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`request body: not valid JSON (${(err as Error).message})`, [{ path: 'data', message: 'not JSON' }]);
  }
  return withEdi(flags, ctx, async (edi) => {
    const answer = await edi.infer(name, text, { timeoutMs: secondsFlag(flags.timeout, '--timeout') });
    ctx.out((typeof answer === 'string' ? answer : JSON.stringify(answer, null, flags.json ? 2 : undefined)) + '\n');
    return answer;
  });
}

/** `runbook edi` and its subcommands. */
export function register(program: Command): void {
  const ctx = processContext();
  const edi = program.command('edi').description('WMLA Elastic Distributed Inference: deploy a model from deployment metadata, start, stop, status, profile, inference, undeploy');

  profileOptions(
    edi
      .command('deploy <metadata-file>')
      .description('build the deployment folder, deploy or redeploy it, apply resource_configs, start, and wait until a kernel is ready (each step only if needed)')
      .requiredOption('--dependency-folder <dir>', 'folder with the kernel file and its dependencies (the unpacked dependency zip)')
      .option('--asset-id <id>', 'entry of the metadata file (needed when it has several)')
      .option('--kernel <file>', 'kernel file in the dependency folder', 'kernel.py')
      .option('--custom-arg <NAME=VALUE>', 'environment variable of the kernel (repeatable; no secrets: EDI shows them to console users)', collect)
      .option('--no-stop', 'fail instead of stopping a running model whose content or profile must change')
      .option('--write-url', 'write the service URL back to wmla_deployment.deployment_url in the metadata file')
      .option('--timeout <seconds>', 'limit of the readiness wait (default 300)')
      .option('--plan', 'show what would change; change nothing'),
  )
    .addHelpText('after', '\nExit status: 0 ready, 2 bad flags, 5 not ready in time, 8 bad metadata or folder, 9 service error or the kernel failed.')
    .action(async (file: string, flags: DeployFlags) => ediDeploy(file, flags, ctx));

  profileOptions(edi.command('status [name]').description('one model (state, kernels, profile summary), or every model with its URL')).action(async (name: string | undefined, flags: ProfileFlags) =>
    ediStatus(name, flags, ctx),
  );

  profileOptions(
    edi
      .command('start <name>')
      .description('start a model and wait until a kernel is ready')
      .option('--no-wait', 'return once the start is requested')
      .option('--timeout <seconds>', 'limit of the wait (default 300)')
      .option('--plan', 'show what would happen; change nothing'),
  ).action(async (name: string, flags: ProfileFlags & { wait?: boolean; timeout?: string; plan?: boolean }) =>
    withEdi(flags, ctx, async (client) => {
      const plan = flags.plan ? new Plan() : undefined;
      const start = await client.startModel(name, { plan });
      let serviceUri: string | undefined;
      if (!plan && flags.wait !== false) {
        const limit = secondsFlag(flags.timeout, '--timeout') ?? 300000;
        const display = new WaitDisplay(ctx, `starting ${name}`, limit);
        try {
          serviceUri = (await client.waitUntilReady(name, { timeoutMs: limit, onProgress: (p) => display.update(`${p.state}${p.kernels.length ? `, kernels ${p.kernels.join(' ')}` : ''}`, p.elapsedMs) })).serviceUri;
        } finally {
          display.stop();
        }
      }
      if (flags.json) printJson(ctx, { ...start, serviceUri, plan: plan?.changes ?? [] });
      else if (plan) ctx.out(`${plan.toText()}\n`);
      else ctx.out(`${name}: ${start.outcome}${serviceUri ? `; ready at ${serviceUri}` : ''}\n`);
    }),
  );

  profileOptions(edi.command('stop <name>').description('stop a model and wait until it is stopped').option('--plan', 'show what would happen; change nothing')).action(
    async (name: string, flags: ProfileFlags & { plan?: boolean }) =>
      withEdi(flags, ctx, async (client) => {
        const plan = flags.plan ? new Plan() : undefined;
        const result = await client.stopModel(name, { plan });
        if (flags.json) printJson(ctx, { ...result, plan: plan?.changes ?? [] });
        else ctx.out(plan ? `${plan.toText()}\n` : `${name}: ${result.outcome}\n`);
      }),
  );

  profileOptions(
    edi
      .command('undeploy <name>')
      .description('remove a deployment (EDI refuses while it runs: --stop stops it first)')
      .option('--stop', 'stop it first if it runs')
      .option('--plan', 'show what would happen; change nothing'),
  ).action(async (name: string, flags: ProfileFlags & { stop?: boolean; plan?: boolean }) =>
    withEdi(flags, ctx, async (client) => {
      const plan = flags.plan ? new Plan() : undefined;
      const removed = await client.undeployModel(name, { stopIfRunning: flags.stop, plan });
      if (flags.json) printJson(ctx, { removed, plan: plan?.changes ?? [] });
      else ctx.out(plan ? `${plan.toText()}\n` : removed ? `${name}: undeployed\n` : `${name} is not deployed (nothing to do)\n`);
    }),
  );

  profileOptions(
    edi
      .command('profile <name>')
      .description('print the app profile, or apply resource settings to it (only while stopped; --stop stops the model first)')
      .option('--resources <yaml-or-json>', "resource settings, e.g. '{enable_gpus: false, n_cpus: 4, memory_allocation: 4096, n_min_kernels: 1}'")
      .option('--metadata <file>', 'take resource_configs from this deployment metadata file')
      .option('--asset-id <id>', 'entry of --metadata (needed when it has several)')
      .option('--stop', 'stop the model first if it runs')
      .option('--plan', 'show what would change; change nothing'),
  ).action(async (name: string, flags: ProfileFlags & { resources?: string; metadata?: string; assetId?: string; stop?: boolean; plan?: boolean }) => ediProfile(name, flags, ctx));

  profileOptions(
    edi
      .command('infer <name>')
      .description('send one request to a started model and print its answer')
      .option('--data <json>', 'the request body')
      .option('--data-file <file>', 'read the request body from a file')
      .option('--timeout <seconds>', 'inactivity limit of the call'),
  ).action(async (name: string, flags: ProfileFlags & { data?: string; dataFile?: string; timeout?: string }) => {
    await ediInfer(name, flags, ctx);
  });
}
