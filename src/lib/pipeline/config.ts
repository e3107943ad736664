/**
 * A_MLOps_Pipeline's user configuration (runbook §1 "Preparation" and §3): the local inputs the
 * model owner hands over (model file or folder, EDI deployment folder), checked before anything is
 * uploaded, and the deployment metadata entry filled from them (template fill, no eval).
 */
import { statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { EdiModelName } from '../contracts/wmla-edi';
import { ValidationError } from '../errors';
import { addEntry } from '../metadata/entries';
import { DeploymentEntry, type MonitorConfig, type ResourceConfigsInput } from '../metadata/schema';
import { deploymentMetadataCodec } from '../metadata/yaml';
import { atomicWriteFile } from '../util/atomic-write';
import { renderDeploymentEntry, type RenderedEntry } from '../metadata/template';
import type { MetadataChange, MetadataDocument } from '../metadata/space-store';
import type { DeploymentEntryInput } from '../metadata/schema';
import { PLANNED_ID, type MutationOptions } from '../plan';
import type { ThresholdMap } from '../thresholds/schema';

/** The key of the draft entry, before the model asset exists (the predecessor's placeholder key). */
export const DRAFT_MODEL_ASSET_ID = 'MODEL_ASSET_ID';
/** `deployment_space_id` of an entry planned for a space that does not exist yet. */
export const PLANNED_SPACE_ID = 'SPACE_ID';

/** A local input that becomes a data asset. */
export interface LocalInput {
  readonly path: string;
  readonly kind: 'file' | 'folder';
  /** The data asset name an upload gives it: the file name, or the folder name + `.zip`. */
  readonly assetName: string;
}

/** The checked local inputs of the pipeline. */
export interface LocalInputs {
  readonly model: LocalInput;
  readonly dependency: LocalInput;
}

function kindOf(path: string): 'file' | 'folder' | undefined {
  try {
    const s = statSync(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'folder' : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks the model owner's inputs: `model_path` is a file or folder; `dependency_path` is a folder
 * holding the kernel file (README.md is generated when missing, as EDI requires one); the deployment
 * name is an EDI name. Every problem is reported at once, naming the parameter.
 */
export function checkLocalInputs(input: { model_path: string; dependency_path: string; kernel_filename: string; deployment_name: string }): LocalInputs {
  const issues: { path: string; message: string }[] = [];
  const modelPath = resolve(input.model_path);
  const modelKind = kindOf(modelPath);
  if (!input.model_path) issues.push({ path: 'model_path', message: 'not set: give the model file or folder' });
  else if (!modelKind) issues.push({ path: 'model_path', message: `${modelPath} does not exist (expected the model file or folder from the model owner)` });
  const depPath = resolve(input.dependency_path);
  const depKind = kindOf(depPath);
  if (!input.dependency_path) issues.push({ path: 'dependency_path', message: 'not set: give the EDI deployment folder' });
  else if (depKind !== 'folder') {
    issues.push({
      path: 'dependency_path',
      message: `${depPath} ${depKind === 'file' ? 'is a file' : 'does not exist'} (expected the EDI deployment folder with ${input.kernel_filename || 'kernel.py'} and README.md)`,
    });
  } else if (kindOf(join(depPath, input.kernel_filename)) !== 'file') {
    issues.push({ path: 'kernel_filename', message: `${input.kernel_filename} is not a file of the deployment folder ${depPath}` });
  }
  const name = EdiModelName.safeParse(input.deployment_name);
  if (!name.success) issues.push({ path: 'deployment_name', message: `${JSON.stringify(input.deployment_name)}: ${name.error.issues[0]!.message}` });
  if (issues.length) throw new ValidationError(`user configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  const asInput = (path: string, kind: 'file' | 'folder'): LocalInput => ({ path, kind, assetName: kind === 'folder' ? `${basename(path)}.zip` : basename(path) });
  return { model: asInput(modelPath, modelKind!), dependency: asInput(depPath, 'folder') };
}

/** Where a deployment's monitors read their images, and their settings. */
export interface MonitorSettings {
  readonly volume_display_name: string;
  readonly dir_gt: string;
  readonly dir_pred: string;
  /** Days that count as recent, per monitor id; its keys are the monitors of the deployment. */
  readonly most_recent: Readonly<Record<string, number>>;
  /** The effective thresholds per monitor id (defaults with the overrides applied). */
  readonly thresholds: Readonly<Record<string, ThresholdMap>>;
  /** Monitor-specific parameters per monitor id (e.g. `{ min_pairs: 3 }`). */
  readonly parameters?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** Everything the deployment entry is filled from, besides the model asset id. */
export interface EntrySettings {
  readonly space_id: string;
  readonly model_name: string;
  readonly deployment_name: string;
  readonly inputs: LocalInputs;
  readonly resource_configs: ResourceConfigsInput;
  readonly monitors: MonitorSettings;
}

/** `openscale_custom_metric_provider` of the entry: one section per monitor. */
export function monitorSections(m: MonitorSettings): Record<string, MonitorConfig> {
  const out: Record<string, MonitorConfig> = {};
  for (const [id, days] of Object.entries(m.most_recent)) {
    const section: MonitorConfig = { dir_gt: m.dir_gt, dir_pred: m.dir_pred, volume_display_name: m.volume_display_name, most_recent: days };
    if (m.thresholds[id]) section.thresholds = m.thresholds[id];
    if (m.parameters?.[id]) section.parameters = { ...m.parameters[id] };
    out[id] = section;
  }
  return out;
}

/**
 * The deployment entry filled from `templates/deployment_metadata.yml` (validated). Without a model
 * asset id this is the draft of step 1, keyed {@link DRAFT_MODEL_ASSET_ID}; step 3 fills in the id.
 * `deployment_url` stays null: A2 records the URL EDI reports once the model serves.
 */
export function renderEntry(s: EntrySettings, modelAssetId: string = DRAFT_MODEL_ASSET_ID): RenderedEntry {
  return renderDeploymentEntry({
    // Ids that exist only in a plan get the placeholders (the entry cannot name what is not there).
    model_asset_id: modelAssetId === PLANNED_ID ? DRAFT_MODEL_ASSET_ID : modelAssetId,
    model_asset: s.inputs.model.assetName,
    model_name: s.model_name,
    deployment_space_id: s.space_id === PLANNED_ID ? PLANNED_SPACE_ID : s.space_id,
    deployment_name: s.deployment_name,
    deployment_url: null,
    dependency_filename: s.inputs.dependency.assetName,
    volume_display_name: s.monitors.volume_display_name,
    resource_configs: s.resource_configs,
    monitors: monitorSections(s.monitors),
  });
}

/**
 * The new entry, keeping what later steps recorded in the stored one: the inference URL (A2), the
 * subscription id (A3) and a deployment id. Everything else comes from the configuration, so a
 * re-run with the same configuration writes nothing.
 */
export function withRecordedFields(entry: DeploymentEntryInput, stored: DeploymentEntryInput | undefined): DeploymentEntryInput {
  if (!stored) return entry;
  const next = structuredClone(entry);
  if (next.deployment_id == null && stored.deployment_id != null) next.deployment_id = stored.deployment_id;
  if (next.openscale_subscription_id == null && stored.openscale_subscription_id != null) next.openscale_subscription_id = stored.openscale_subscription_id;
  const sameDeployment = stored.wmla_deployment.deployment_name === next.wmla_deployment.deployment_name;
  if (sameDeployment && next.wmla_deployment.deployment_url == null && stored.wmla_deployment.deployment_url != null) {
    next.wmla_deployment.deployment_url = stored.wmla_deployment.deployment_url;
  }
  return next;
}

/**
 * Writes the entry under `key` in deployment_metadata.yml (runbook step 3): created, replaced with
 * the recorded fields kept ({@link withRecordedFields}), or left alone when equal (`changed: false`).
 * One deployment has one entry: entries of other keys with the same EDI deployment name — the
 * entry of an earlier version of the model, whose asset the upload replaced — are removed, and their
 * recorded fields move to the new key (the predecessor left them behind with the same subscription
 * id, §8.25). A read-modify-write that loses no concurrent update; plan mode records the change.
 */
export async function writeDeploymentEntry(
  meta: MetadataDocument<DeploymentEntry, DeploymentEntryInput>,
  key: string,
  entry: DeploymentEntryInput,
  opts: MutationOptions = {},
): Promise<MetadataChange<DeploymentEntry> & { readonly superseded: readonly string[] }> {
  let superseded: string[] = [];
  const change = await meta.mutate((doc) => {
    const name = entry.wmla_deployment.deployment_name;
    superseded = Object.keys(doc).filter((k) => k !== key && name !== null && doc[k]!.wmla_deployment.deployment_name === name);
    const previous = (doc[key] ?? (superseded.length ? doc[superseded[superseded.length - 1]!] : undefined)) as DeploymentEntryInput | undefined;
    const rest: Record<string, DeploymentEntry> = {};
    for (const [k, v] of Object.entries(doc)) if (!superseded.includes(k)) rest[k] = v;
    return addEntry(rest, key, withRecordedFields(entry, previous) as DeploymentEntry, { overwrite: true, schema: DeploymentEntry, what: meta.what });
  }, { plan: opts.plan, target: key });
  return { ...change, superseded };
}

/**
 * Plan mode: writes the deployment metadata document as the plan would leave it to
 * `<dir>/deployment_metadata.planned.yml`, for the pipeline notebooks to plan against. Returns the path.
 */
export async function writePlannedMetadata(dir: string, doc: Readonly<Record<string, DeploymentEntry>>): Promise<string> {
  const file = join(dir, 'deployment_metadata.planned.yml');
  await mkdir(dir, { recursive: true });
  await atomicWriteFile(file, deploymentMetadataCodec.serialize(doc as Record<string, DeploymentEntry>));
  return file;
}

/** Whether A can run its pipeline notebooks, and how, given what its own steps did (or planned). */
export function childRunDecision(opts: { plan: boolean; assetsPlanned: boolean; entryStored: boolean; metadataPlanned: boolean }): { run: boolean; useMetadataFile: boolean; reason?: string } {
  if (!opts.plan) return { run: true, useMetadataFile: false };
  if (opts.assetsPlanned || !opts.entryStored) {
    return { run: false, useMetadataFile: false, reason: 'plan mode: the model or deployment folder would be uploaded first (or the entry does not exist yet), so A2 and A3 have no inputs to plan from; apply this plan, then plan again' };
  }
  return { run: true, useMetadataFile: opts.metadataPlanned };
}
