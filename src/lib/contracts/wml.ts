import { z } from 'zod';

/**
 * Wire formats of WML spaces and CAMS data assets (ibm-api-contracts.md §2), shared by the sandbox
 * (request validation) and the clients (response validation). Responses are loose objects: real
 * clusters add fields the project does not read.
 */

const Href = z.looseObject({ href: z.string() });

// ---- Spaces (§2.2) -------------------------------------------------------------------------------

export const SpaceCreateRequest = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  generator: z.string().optional(),
  /** Cloud only: `{resource_crn}` of the Cloud Object Storage instance. */
  storage: z.looseObject({ resource_crn: z.string().optional() }).optional(),
  /** Cloud only: the WML instance. */
  compute: z.array(z.looseObject({ name: z.string(), crn: z.string(), type: z.string().optional() })).optional(),
});
export type SpaceCreateRequest = z.infer<typeof SpaceCreateRequest>;

/** `preparing` → `active` (or `failed`/`error`); clients poll until one of the final states. */
export const SPACE_FINAL_STATES = ['active', 'failed', 'error', 'completed', 'canceled'] as const;

export const Space = z.looseObject({
  metadata: z.looseObject({
    id: z.string(),
    url: z.string().optional(),
    created_at: z.string(),
    updated_at: z.string().optional(),
    creator_id: z.string().optional(),
  }),
  entity: z.looseObject({
    name: z.string(),
    description: z.string().optional(),
    tags: z.array(z.string()).optional(),
    status: z.looseObject({ state: z.string() }),
    compute: z.array(z.looseObject({})).optional(),
    type: z.string().optional(),
  }),
});
export type Space = z.infer<typeof Space>;

export const SpaceList = z.looseObject({
  resources: z.array(Space),
  first: Href.optional(),
  next: Href.optional(),
  limit: z.number().int().optional(),
  total_results: z.number().int().optional(),
});
export type SpaceList = z.infer<typeof SpaceList>;

export { JsonPatchOperation, JsonPatch } from './json-patch';

// ---- Data assets (§2.3) --------------------------------------------------------------------------

export const AssetCreateRequest = z.looseObject({
  metadata: z.looseObject({
    name: z.string().min(1),
    description: z.string().optional(),
    asset_type: z.literal('data_asset').optional(),
    origin_country: z.string().optional(),
    asset_category: z.string().optional(),
    tags: z.array(z.string()).optional(),
  }),
  entity: z
    .looseObject({
      data_asset: z.looseObject({ mime_type: z.string().optional() }).optional(),
    })
    .optional(),
});
export type AssetCreateRequest = z.infer<typeof AssetCreateRequest>;

export const AssetUsage = z.looseObject({
  last_updated_at: z.string().optional(),
  last_update_time: z.number().optional(),
  last_updater_id: z.string().optional(),
});

export const Attachment = z.looseObject({
  id: z.string(),
  asset_type: z.string().optional(),
  name: z.string().optional(),
  mime: z.string().optional(),
  handle: z.looseObject({ key: z.string() }).optional(),
  object_key: z.string().optional(),
  size: z.number().optional(),
  is_remote: z.boolean().optional(),
  transfer_complete: z.boolean().optional(),
});
export type Attachment = z.infer<typeof Attachment>;

export const AssetMetadata = z.looseObject({
  asset_id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  asset_type: z.string(),
  created_at: z.string(),
  last_updated_at: z.string().optional(),
  space_id: z.string().optional(),
  project_id: z.string().optional(),
  catalog_id: z.string().optional(),
  size: z.number().optional(),
  tags: z.array(z.string()).optional(),
  revision_id: z.number().int().optional(),
  usage: AssetUsage.optional(),
});

export const Asset = z.looseObject({
  metadata: AssetMetadata,
  entity: z.looseObject({ data_asset: z.looseObject({ mime_type: z.string().optional() }).optional() }).optional(),
  attachments: z.array(Attachment).optional(),
  href: z.string().optional(),
});
export type Asset = z.infer<typeof Asset>;

export const AttachmentCreateRequest = z.looseObject({
  asset_type: z.string().optional(),
  name: z.string().min(1),
  mime: z.string().optional(),
  description: z.string().optional(),
  connection_id: z.string().optional(),
  connection_path: z.string().optional(),
  is_remote: z.boolean().optional(),
});
export type AttachmentCreateRequest = z.infer<typeof AttachmentCreateRequest>;

/** 201 of `POST /v2/assets/{id}/attachments`: PUT the bytes to `url1` (a path on the CPD host). */
export const AttachmentCreateResponse = z.looseObject({
  attachment_id: z.string(),
  url1: z.string(),
  asset_type: z.string().optional(),
  name: z.string().optional(),
  mime: z.string().optional(),
});
export type AttachmentCreateResponse = z.infer<typeof AttachmentCreateResponse>;

/** 200 of `GET /v2/assets/{id}/attachments/{aid}`: `url` is a CPD-relative path (prefix the host). */
export const AttachmentDetails = z.looseObject({
  attachment_id: z.string(),
  url: z.string().optional(),
  name: z.string().optional(),
  mime: z.string().optional(),
  size: z.number().optional(),
  handle: z.looseObject({ key: z.string() }).optional(),
  transfer_complete: z.boolean().optional(),
});
export type AttachmentDetails = z.infer<typeof AttachmentDetails>;

export const AssetSearchRequest = z.looseObject({
  /** `*:*`, `asset.name:<name>` (quote names with spaces: `asset.name:"my file.zip"`), `asset.asset_id:<id>`. */
  query: z.string().min(1),
  limit: z.number().int().min(1).max(200).optional(),
  bookmark: z.string().optional(),
  /** e.g. `entity,attachments`. */
  include: z.string().optional(),
});
export type AssetSearchRequest = z.infer<typeof AssetSearchRequest>;

/** `next` is the request body to POST again for the following page (absent on the last page). */
export const AssetSearchResponse = z.looseObject({
  total_rows: z.number().int(),
  results: z.array(Asset),
  next: AssetSearchRequest.optional(),
});
export type AssetSearchResponse = z.infer<typeof AssetSearchResponse>;

export const RevisionCreateRequest = z.looseObject({ commit_message: z.string().optional() });
export type RevisionCreateRequest = z.infer<typeof RevisionCreateRequest>;

export const Revision = z.looseObject({
  asset_id: z.string(),
  revision_id: z.number().int(),
  commit_message: z.string().optional(),
  created_at: z.string(),
});
export type Revision = z.infer<typeof Revision>;

export const RevisionList = z.looseObject({ results: z.array(Revision), total_count: z.number().int() });

/** `GET /v3/search` (used by older scripts to find asset ids by name). */
export const GlobalSearchResponse = z.looseObject({
  size: z.number().int(),
  rows: z.array(z.looseObject({ artifact_id: z.string(), metadata: z.looseObject({ name: z.string() }) })),
});
