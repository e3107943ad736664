/**
 * The whole A2 step (predecessor-runbook.md §1.3) from a deployment metadata entry: build the
 * package, deploy or redeploy it, put `resource_configs` on the app profile, start, and wait until
 * a kernel is ready. Idempotent: a second run with the same inputs finds the same content deployed,
 * the same profile, the model started, and changes nothing. The inference URL is read back from EDI.
 */
import { EdiModelName } from '../contracts/wmla-edi';
import { ValidationError } from '../errors';
import { DeploymentEntry, type DeploymentEntryInput } from '../metadata/schema';
import { Plan, type MutationOptions } from '../plan';
import type { DeployResult, EdiClient, ProfileResult, ReadyProgress, ReadyResult } from './edi';
import { buildDeploymentPackage, type PackageOptions } from './package';
import { parseOptions } from './validate';

/** A step of {@link deployFromMetadata}, reported as it begins. */
export type DeployStep = 'package' | 'deploy' | 'profile' | 'start' | 'wait';

/** Options of {@link deployFromMetadata}. */
export interface DeployFromMetadataOptions extends MutationOptions {
  /** The local folder with the kernel file and its dependencies (the unpacked `dependency_filename`). */
  readonly dependencyFolder: string;
  /** Default `kernel.py`. */
  readonly kernelFilename?: string;
  /** More kernel environment variables; see {@link buildDeploymentPackage} for the secret rule. */
  readonly mkEnvironments?: Readonly<Record<string, string>>;
  readonly customArgs?: PackageOptions['customArgs'];
  readonly readme?: string;
  readonly allowSecretsInEnvironments?: boolean;
  /**
   * Stop a running model when its content or profile must change (default true: this step starts
   * it again afterwards). With false such a change fails with ModelNotStoppedError.
   */
  readonly stopIfRunning?: boolean;
  /** Limit of the readiness wait (default 5 min). */
  readonly readyTimeoutMs?: number;
  /** Called as each step begins (also in plan mode), with a one-line description of what it does. */
  readonly onStep?: (step: DeployStep, detail: string) => void;
  /** Passed on to the readiness wait ({@link ReadyOptions.onProgress}). */
  readonly onProgress?: (p: ReadyProgress) => void;
}

/** What {@link deployFromMetadata} did. */
export interface DeployFromMetadataResult {
  readonly name: string;
  /** The inference URL EDI reports (undefined in plan mode). */
  readonly serviceUri?: string;
  readonly deploy: DeployResult;
  /** Undefined in plan mode when the model does not exist yet (its profile cannot be read). */
  readonly profile?: ProfileResult;
  readonly start: { outcome: 'started' | 'already-started'; planned: boolean };
  readonly ready?: ReadyResult;
  readonly planned: boolean;
}

/**
 * Deploys the EDI model of a deployment metadata entry and waits until it serves. The name is
 * `wmla_deployment.deployment_name` (it must be a DNS label: EDI's rule), the kernel gets
 * `WML_SPACE_ID` = `deployment_space_id` and `WML_SPACE_MODEL` = `model_asset`. Plan mode reads,
 * records every change in `plan` and makes none.
 *
 * @example
 * const { serviceUri } = await deployFromMetadata(edi, entry, { dependencyFolder: 'deploy/deepliif' });
 * // then record serviceUri as wmla_deployment.deployment_url in the metadata
 */
export async function deployFromMetadata(edi: EdiClient, entry: DeploymentEntryInput, opts: DeployFromMetadataOptions): Promise<DeployFromMetadataResult> {
  const parsed = parseOptions(DeploymentEntry, entry, 'deployment entry');
  const wd = parsed.wmla_deployment;
  if (wd.deployment_name === null) {
    throw new ValidationError('wmla_deployment.deployment_name is null (the deployment was deleted): set a name to deploy again', [
      { path: 'wmla_deployment.deployment_name', message: 'required' },
    ]);
  }
  const nameCheck = EdiModelName.safeParse(wd.deployment_name);
  if (!nameCheck.success) {
    throw new ValidationError(`wmla_deployment.deployment_name '${wd.deployment_name}': EDI names are ${nameCheck.error.issues[0]!.message}`, [
      { path: 'wmla_deployment.deployment_name', message: nameCheck.error.issues[0]!.message },
    ]);
  }
  const name = nameCheck.data;
  const stopIfRunning = opts.stopIfRunning ?? true;
  const step = opts.onStep ?? (() => undefined);

  step('package', `building the deployment folder of ${name} from ${opts.dependencyFolder}`);
  const pkg = await buildDeploymentPackage({
    dependencyFolder: opts.dependencyFolder,
    name,
    kernelFilename: opts.kernelFilename,
    spaceId: parsed.deployment_space_id,
    modelAssetName: parsed.model_asset,
    mkEnvironments: opts.mkEnvironments ? { ...opts.mkEnvironments } : undefined,
    customArgs: opts.customArgs,
    readme: opts.readme,
    allowSecretsInEnvironments: opts.allowSecretsInEnvironments,
  });
  try {
    step('deploy', `deploying ${name}`);
    const deploy = await edi.deployModel(pkg, { ifExists: 'redeploy', stopIfRunning, plan: opts.plan });
    let profile: ProfileResult | undefined;
    if (deploy.planned && deploy.outcome === 'created') {
      opts.plan!.record({ service: 'wmla-edi', action: 'update', resource: 'app_profile', target: name, detail: 'apply resource_configs after the deploy' });
    } else {
      step('profile', `applying resource_configs to the app profile of ${name}`);
      // In plan mode a planned stop (for the redeploy) stands for the real one: the profile change needs no second stop.
      const scratch = opts.plan && deploy.stopped ? new Plan() : opts.plan;
      profile = await edi.applyResourceConfigs(name, wd.resource_configs, { stopIfRunning, plan: scratch });
      if (scratch && scratch !== opts.plan) for (const c of scratch.changes) if (c.action !== 'stop') opts.plan!.record(c);
    }
    step('start', `starting ${name}`);
    let start: DeployFromMetadataResult['start'];
    if (opts.plan && (deploy.stopped || profile?.stopped || (deploy.planned && deploy.outcome === 'created'))) {
      opts.plan.record({ service: 'wmla-edi', action: 'start', resource: 'edi_model', target: name });
      start = { outcome: 'started', planned: true };
    } else {
      start = await edi.startModel(name, { plan: opts.plan });
    }
    if (opts.plan) return { name, deploy, profile, start, planned: true };
    step('wait', `waiting until ${name} is ready`);
    const ready = await edi.waitUntilReady(name, { timeoutMs: opts.readyTimeoutMs, onProgress: opts.onProgress });
    return { name, serviceUri: ready.serviceUri, deploy, profile, start, ready, planned: false };
  } finally {
    await pkg.cleanup();
  }
}
