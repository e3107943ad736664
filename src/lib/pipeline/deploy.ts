/**
 * A2's reporting around the EDI deployment flow (src/lib/wmla/deploy-flow.ts): what each step did,
 * the deployed model as the WMLA console shows it, readiness progress, and the inference URL
 * recorded in the deployment metadata (read back from EDI, not derived from a host name as the
 * predecessor did, §8.26).
 */
import { ValidationError } from '../errors';
import type { DeploymentEntry, DeploymentEntryInput } from '../metadata/schema';
import { FileMetadataStore } from '../metadata/file-store';
import { deploymentMetadata, type MetadataDocument } from '../metadata/space-store';
import { deploymentMetadataCodec } from '../metadata/yaml';
import type { DataAssets } from '../wml/assets';
import type { MutationOptions } from '../plan';
import type { DeployFromMetadataResult } from '../wmla/deploy-flow';
import type { ModelDescription, ReadyProgress } from '../wmla/edi';
import { formatChange } from '../wmla/profile-mapping';

/**
 * The deployment metadata a pipeline notebook works with: the space's `deployment_metadata.yml`,
 * or, in plan mode only, a local file holding the document as A's plan would leave it (so the
 * notebook plans against the planned entry, e.g. new thresholds, not the stored one).
 */
export function openDeploymentMetadata(assets: DataAssets, opts: { metadataFile?: string; plan: boolean }): MetadataDocument<DeploymentEntry, DeploymentEntryInput> {
  if (!opts.metadataFile) return deploymentMetadata(assets);
  if (!opts.plan) {
    throw new ValidationError('metadata_file is only for plan mode (A passes the planned deployment_metadata.yml with it); without plan the space\'s file is used', [
      { path: 'metadata_file', message: 'only with plan = true' },
    ]);
  }
  return deploymentMetadata(new FileMetadataStore(opts.metadataFile, deploymentMetadataCodec));
}

/** The entry of `key`, or a ValidationError listing the entries there are. */
export async function requireEntry(meta: MetadataDocument<DeploymentEntry, DeploymentEntryInput>, key: string): Promise<DeploymentEntry> {
  const doc = await meta.load();
  const entry = Object.prototype.hasOwnProperty.call(doc, key) ? doc[key] : undefined;
  if (entry) return entry;
  const keys = Object.keys(doc);
  throw new ValidationError(
    `${meta.what} has no entry ${JSON.stringify(key)} (${keys.length ? `entries: ${keys.join(', ')}` : 'it is empty or does not exist yet'}): run A_MLOps_Pipeline, which stages the model and writes the entry`,
    [{ path: 'model_asset_id', message: 'no such entry' }],
  );
}

/** One line per step of a deployment: deploy, profile, start, ready. */
export function describeDeployment(r: DeployFromMetadataResult): string {
  const planned = (p: boolean) => (p ? ' (planned)' : '');
  const lines = [`deploy  ${r.name}: ${r.deploy.outcome}${planned(r.deploy.planned)}${r.deploy.stopped ? ' (stopped first)' : ''}`];
  if (r.profile) {
    lines.push(`profile ${r.name}: ${r.profile.outcome}${planned(r.profile.planned)}${r.profile.changes.length ? ` — ${r.profile.changes.map(formatChange).join(', ')}` : ''}`);
  } else {
    lines.push(`profile ${r.name}: applied after the first deploy`);
  }
  lines.push(`start   ${r.name}: ${r.start.outcome}${planned(r.start.planned)}`);
  if (r.ready) lines.push(`ready   ${r.name}: ${r.ready.serviceUri} (after ${(r.ready.elapsedMs / 1000).toFixed(1)} s)`);
  return lines.join('\n');
}

/**
 * A listener for the readiness wait that reports only changes (`not-available, kernels STARTING` →
 * `enabled, kernels IDLE`), through `emit`.
 */
export function readinessReporter(emit: (line: string) => void): (p: ReadyProgress) => void {
  let last = '';
  return (p) => {
    const now = `${p.state}${p.kernels.length ? `, kernels ${p.kernels.join(' ')}` : ''}`;
    if (now !== last) emit(`  ${(p.elapsedMs / 1000).toFixed(1)} s: ${now}`);
    last = now;
  };
}

/** The model as the WMLA console shows it: phase, URL, kernels, profile policy and resources. */
export function modelSummary(name: string, d: ModelDescription | undefined): string {
  if (!d) return `${name}: not deployed`;
  const kernels = (d.instance.instances ?? []).flatMap((i) => i.isd_container ?? []).map((k) => `${k.container_uid ?? '?'} ${k.container_status}`);
  const p = d.profile;
  return [
    `model     ${name}: ${d.phase} (instance ${d.instance.state})`,
    `url       ${d.model.service_uri || '(none while stopped)'}`,
    `kernels   ${kernels.length ? kernels.join(', ') : 'none'}`,
    `replica   ${p.replica}; kernels ${p.policy.kernel_min}..${p.policy.kernel_max}; task timeout ${p.policy.task_execution_timeout} s; release after ${p.policy.kernel_delay_release_time} s`,
    `resources ${p.resource_allocation.kernel.resources}; gpu ${p.kernel.gpu}`,
  ].join('\n');
}

/**
 * Records EDI's inference URL as `wmla_deployment.deployment_url` of the entry (nothing is written
 * when it is already there). In plan mode the deploy step returns no URL: an entry that has one and
 * a deployment that stays as it is mean no change; otherwise the update is recorded in the plan.
 * Returns what happened: `recorded`, `unchanged`, `would be recorded`.
 */
export async function recordDeploymentUrl(
  meta: MetadataDocument<DeploymentEntry, DeploymentEntryInput>,
  key: string,
  deployed: Pick<DeployFromMetadataResult, 'serviceUri' | 'deploy'>,
  opts: MutationOptions = {},
): Promise<'recorded' | 'unchanged' | 'would be recorded'> {
  const url = deployed.serviceUri;
  if (url === undefined) {
    const current = await meta.get(key);
    const stays = deployed.deploy.outcome === 'unchanged' || deployed.deploy.outcome === 'kept';
    if (current?.wmla_deployment.deployment_url && stays) return 'unchanged';
    opts.plan?.record({ service: 'metadata', action: 'update', resource: `${meta.what} entry`, target: key, detail: 'wmla_deployment.deployment_url ← the URL EDI reports once the model serves' });
    return 'would be recorded';
  }
  const change = await meta.update(key, { wmla_deployment: { deployment_url: url } }, { plan: opts.plan });
  return change.changed ? (change.planned ? 'would be recorded' : 'recorded') : 'unchanged';
}
