import type { Asset, Attachment, Revision, Space } from '../../../lib/contracts/wml';
import { CONTAINER_PARAM, containerQuery, type AssetDoc, type AttachmentDoc, type RevisionDoc, type SpaceDoc } from './model';

/** The derived state of a space: `preparing` until `ready_at`, then `active`. */
export function spaceState(space: SpaceDoc, now = Date.now()): 'preparing' | 'active' {
  return now < Date.parse(space.ready_at) ? 'preparing' : 'active';
}

export function spaceView(space: SpaceDoc): Space {
  const entity: Space['entity'] = {
    name: space.name,
    description: space.description ?? '',
    tags: space.tags,
    status: { state: spaceState(space) },
    type: 'cpd',
    stage: { production: false },
    settings: { folders: { enabled: false } },
    compute: space.compute ?? [],
  };
  if (space.generator) entity.generator = space.generator;
  if (space.storage) entity.storage = space.storage;
  return {
    metadata: { id: space.id, url: `/v2/spaces/${space.id}`, created_at: space.created_at, updated_at: space.updated_at, creator_id: space.creator_id },
    entity,
  };
}

/** `data_asset/<attachment id>`: the handle key, also the path under /v2/asset_files/. */
export function handleKey(attachment: AttachmentDoc): string {
  return `data_asset/${attachment.id}`;
}

export function attachmentView(a: AttachmentDoc): Attachment {
  return {
    id: a.id,
    version: 2,
    asset_type: a.asset_type,
    name: a.name,
    mime: a.mime,
    description: a.description,
    object_key: handleKey(a),
    handle: { key: handleKey(a) },
    size: a.blob?.size ?? 0,
    is_remote: false,
    is_managed: true,
    is_referenced: false,
    transfer_complete: a.state === 'complete',
    create_time: a.created_at,
  };
}

function completeSize(attachments: AttachmentDoc[]): number {
  return attachments.reduce((sum, a) => sum + (a.state === 'complete' && a.blob ? a.blob.size : 0), 0);
}

/** The wire form of an asset, current or (with `revision`) as it was at that revision. */
export function assetView(asset: AssetDoc, options: { revision?: RevisionDoc; includeAttachments?: boolean } = {}): Asset {
  const r = options.revision;
  const lastUpdatedAt = r ? r.last_updated_at : asset.last_updated_at;
  const attachments = r ? r.attachments : asset.attachments;
  const metadata: Asset['metadata'] = {
    asset_id: asset.id,
    name: r ? r.name : asset.name,
    description: (r ? r.description : asset.description) ?? '',
    asset_type: 'data_asset',
    origin_country: asset.origin_country,
    asset_category: asset.asset_category,
    rov: { mode: 0 },
    tags: r ? r.tags : asset.tags,
    asset_state: 'available',
    created_at: asset.created_at,
    last_updated_at: lastUpdatedAt,
    owner_id: asset.creator_id,
    creator_id: asset.creator_id,
    size: completeSize(attachments),
    usage: {
      last_updated_at: lastUpdatedAt,
      last_update_time: Date.parse(lastUpdatedAt),
      last_updater_id: asset.last_updater_id,
    },
  };
  metadata[CONTAINER_PARAM[asset.container.kind]] = asset.container.id;
  if (r) metadata.revision_id = r.revision_id;
  const view: Asset = {
    metadata,
    entity: { data_asset: { mime_type: r ? r.mime_type : asset.mime_type } },
    href: `/v2/assets/${asset.id}?${containerQuery(asset.container)}`,
  };
  if (options.includeAttachments !== false) view.attachments = attachments.map(attachmentView);
  return view;
}

export function revisionView(asset: AssetDoc, r: RevisionDoc): Revision {
  return {
    asset_id: asset.id,
    revision_id: r.revision_id,
    commit_message: r.commit_message ?? '',
    created_at: r.created_at,
    created_by: r.created_by,
    name: r.name,
    attachments: r.attachments.map(attachmentView),
  };
}
