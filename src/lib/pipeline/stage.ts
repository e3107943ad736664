/**
 * A_MLOps_Pipeline steps that touch the deployment space: which space (runbook §3.1), and staging
 * the model and the EDI deployment folder as data assets (step 2). Uploads skip unchanged content,
 * so a re-run keeps the same asset (and so the same model asset id, the metadata entry's key)
 * instead of piling up copies as the predecessor's `overwrite=False` did (§8.7).
 */
import { ValidationError } from '../errors';
import type { MutationOptions } from '../plan';
import type { TransferProgress } from '../wml/transfer';
import type { DataAssets, UploadResult } from '../wml/assets';
import type { SpaceInfo, WmlClient } from '../wml/client';
import type { LocalInputs } from './config';

/** The space of the run and how it was found. */
export interface ResolvedSpace {
  readonly space: SpaceInfo;
  readonly outcome: 'given' | 'existing' | 'created';
  readonly planned: boolean;
}

/**
 * The space: by id when `spaceId` is given (it must exist), else found or created by name and
 * waited for until active. Plan mode creates nothing (the id of a planned space is `(planned)`).
 */
export async function resolveSpace(wml: WmlClient, opts: MutationOptions & { spaceId?: string; spaceName: string; description?: string }): Promise<ResolvedSpace> {
  if (opts.spaceId) {
    const found = await wml.findSpace(opts.spaceId);
    if (!found) throw new ValidationError(`space_id ${opts.spaceId}: no such deployment space (see the CPD UI: Deployments → Spaces; or leave space_id empty to use space_name)`, [{ path: 'space_id', message: 'no such space' }]);
    return { space: found, outcome: 'given', planned: Boolean(opts.plan) };
  }
  const r = await wml.ensureSpace(opts.spaceName, { plan: opts.plan, description: opts.description ?? 'MLOps deployment space (cpd-runbook)' });
  return { space: r.space, outcome: r.created ? 'created' : 'existing', planned: r.planned };
}

/** The two staged assets. */
export interface StagedAssets {
  readonly model: UploadResult;
  readonly dependency: UploadResult;
}

/**
 * Uploads the model (file, or folder zipped as `<name>.zip`) and the EDI deployment folder
 * (`<name>.zip`) to the space, each skipped when the latest copy has the same content; older copies
 * of the same name are removed. Plan mode uploads nothing and records what would change.
 */
export async function stageAssets(assets: DataAssets, inputs: LocalInputs, opts: MutationOptions & { onProgress?: (name: string, p: TransferProgress) => void } = {}): Promise<StagedAssets> {
  const upload = (path: string, name: string) =>
    assets.upload(path, { name, skipIfUnchanged: true, overwrite: 'replace', plan: opts.plan, onProgress: opts.onProgress ? (p) => opts.onProgress!(name, p) : undefined });
  const model = await upload(inputs.model.path, inputs.model.assetName);
  const dependency = await upload(inputs.dependency.path, inputs.dependency.assetName);
  return { model, dependency };
}

/** `deepliif.zip → asset 1234… (unchanged)`. */
export function describeUpload(r: UploadResult): string {
  const what = r.planned && r.action === 'uploaded' ? 'would be uploaded' : r.action;
  const extra = [r.bytes !== undefined ? `${r.bytes} bytes` : '', r.deleted.length ? `${r.deleted.length} older cop${r.deleted.length === 1 ? 'y' : 'ies'} ${r.planned ? 'to remove' : 'removed'}` : ''].filter(Boolean);
  return `${r.asset.name} → asset ${r.asset.id} (${what}${extra.length ? `, ${extra.join(', ')}` : ''})`;
}
