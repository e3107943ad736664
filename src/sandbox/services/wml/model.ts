import { z } from 'zod';

/** Stored documents of the WML module (not wire formats: see views.ts for those). */

export const SpaceDoc = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  tags: z.array(z.string()),
  generator: z.string().optional(),
  storage: z.record(z.string(), z.unknown()).optional(),
  compute: z.array(z.record(z.string(), z.unknown())).optional(),
  created_at: z.string(),
  updated_at: z.string(),
  creator_id: z.string(),
  /** Until then the space is `preparing`, afterwards `active` (derived on read: restart-proof). */
  ready_at: z.string(),
});
export type SpaceDoc = z.infer<typeof SpaceDoc>;

export const BlobRef = z.object({ key: z.string(), size: z.number().int().nonnegative(), sha256: z.string() });
export type BlobRef = z.infer<typeof BlobRef>;

/** `pending` (created) → `uploaded` (bytes stored) → `complete` (POST …/complete). */
export const AttachmentDoc = z.object({
  id: z.string(),
  name: z.string(),
  mime: z.string(),
  asset_type: z.string(),
  description: z.string().optional(),
  state: z.enum(['pending', 'uploaded', 'complete']),
  created_at: z.string(),
  uploaded_at: z.string().optional(),
  completed_at: z.string().optional(),
  blob: BlobRef.optional(),
});
export type AttachmentDoc = z.infer<typeof AttachmentDoc>;

export const ContainerRef = z.object({ kind: z.enum(['space', 'project', 'catalog']), id: z.string() });
export type ContainerRef = z.infer<typeof ContainerRef>;

export const RevisionDoc = z.object({
  revision_id: z.number().int().positive(),
  commit_message: z.string().optional(),
  created_at: z.string(),
  created_by: z.string(),
  /** The asset as it was: metadata and its complete attachments. */
  name: z.string(),
  description: z.string().optional(),
  tags: z.array(z.string()),
  mime_type: z.string(),
  last_updated_at: z.string(),
  attachments: z.array(AttachmentDoc),
});
export type RevisionDoc = z.infer<typeof RevisionDoc>;

export const AssetDoc = z.object({
  id: z.string(),
  container: ContainerRef,
  name: z.string(),
  description: z.string().optional(),
  tags: z.array(z.string()),
  mime_type: z.string(),
  asset_category: z.string(),
  origin_country: z.string(),
  created_at: z.string(),
  creator_id: z.string(),
  last_updated_at: z.string(),
  last_updater_id: z.string(),
  attachments: z.array(AttachmentDoc),
  revisions: z.array(RevisionDoc),
});
export type AssetDoc = z.infer<typeof AssetDoc>;

/** Every blob key an asset references (current attachments and revision snapshots). */
export function blobKeysOf(asset: AssetDoc): Set<string> {
  const keys = new Set<string>();
  for (const a of asset.attachments) if (a.blob) keys.add(a.blob.key);
  for (const r of asset.revisions) for (const a of r.attachments) if (a.blob) keys.add(a.blob.key);
  return keys;
}

export const CONTAINER_PARAM = { space: 'space_id', project: 'project_id', catalog: 'catalog_id' } as const;

export function containerQuery(c: ContainerRef): string {
  return `${CONTAINER_PARAM[c.kind]}=${encodeURIComponent(c.id)}`;
}
