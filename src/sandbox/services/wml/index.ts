import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  AssetCreateRequest,
  AssetSearchRequest,
  AttachmentCreateRequest,
  JsonPatch,
  RevisionCreateRequest,
  SpaceCreateRequest,
  type AssetSearchResponse,
} from '../../../lib/contracts/wml';
import { safeRelativePath } from '../../../lib/archive/safe-path';
import { ValidationError } from '../../../lib/errors';
import { ApiError, badRequest, conflict, notFound, payloadTooLarge, unauthorized } from '../../errors';
import { receiveUpload } from '../../http/upload';
import { reply, type RequestContext } from '../../http/router';
import { defineModule } from '../../module';
import { BlobTooLargeError, type BlobInfo, type Collection } from '../../store';
import { AssetDoc, SpaceDoc, blobKeysOf, containerQuery, type AttachmentDoc, type ContainerRef } from './model';
import { parseAssetQuery, parseGlobalQuery } from './query';
import { assetView, attachmentView, handleKey, revisionView, spaceState, spaceView } from './views';

export const WmlConfig = z.object({
  /** How long a new space stays `preparing` before it is `active`. */
  spaceActivationDelayMs: z.number().int().min(0).default(100),
  /** Largest attachment upload accepted (413 beyond); absent = no limit. */
  maxUploadBytes: z.number().int().positive().optional(),
});
export type WmlConfig = z.infer<typeof WmlConfig>;

/** What the module offers other modules (host.lookup('wml')). */
export interface WmlApi {
  space(id: string): { id: string; name: string; state: string } | undefined;
  assets(container: ContainerRef): { id: string; name: string }[];
}

const SpaceListQuery = z.looseObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  start: z.string().optional(),
});

const now = (): string => new Date().toISOString();

/** A name that could be a path must not escape: `../`, absolute paths, NUL and control characters get 400. */
function checkName(name: string, field: string): void {
  try {
    safeRelativePath(name, field);
  } catch (err) {
    if (err instanceof ValidationError) throw badRequest(err.message, 'invalid_name');
    throw err;
  }
}

function encodeOffset(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}
function decodeOffset(token: string, field: string): number {
  try {
    const o = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown }).o;
    if (typeof o === 'number' && Number.isInteger(o) && o >= 0) return o;
  } catch {
    /* fall through */
  }
  throw badRequest(`${field}: not a page token this sandbox issued`, 'invalid_parameter');
}

function byCreation<T extends { created_at: string; id: string }>(a: T, b: T): number {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** `filename*=` form so that any asset name is a valid header value. */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Watson Machine Learning deployment spaces and CAMS data assets (ibm-api-contracts.md §2.2–2.3):
 * spaces with a preparing → active state machine, the four-step attachment upload, downloads,
 * search with paging, revisions, and `/v3/search`.
 */
export const wmlModule = defineModule({
  name: 'wml',
  configSchema: WmlConfig,
  async setup(host) {
    const spaces: Collection<SpaceDoc> = await host.store.collection('wml-spaces', SpaceDoc);
    const assets: Collection<AssetDoc> = await host.store.collection('wml-assets', AssetDoc);

    // Recovery: assets whose space is gone (a delete cut short) and blobs no record references.
    for (const asset of assets.values()) {
      if (asset.container.kind === 'space' && !spaces.has(asset.container.id)) await assets.delete(asset.id);
    }
    const referenced = new Set<string>();
    for (const asset of assets.values()) for (const key of blobKeysOf(asset)) referenced.add(key);
    const swept = await host.blobs.sweepUnreferenced(referenced);
    if (swept.length > 0) host.log(`removed ${swept.length} unreferenced blob(s)`);

    // ---- helpers --------------------------------------------------------------------------------

    const containerOf = (params: URLSearchParams, required = true): ContainerRef | undefined => {
      const given = (['space', 'project', 'catalog'] as const)
        .map((kind) => ({ kind, id: params.get(`${kind}_id`) }))
        .filter((c): c is ContainerRef => c.id !== null && c.id !== '');
      if (given.length === 0 && !required) return undefined;
      if (given.length !== 1) {
        throw badRequest(`query: exactly one of space_id, project_id or catalog_id is required (got ${given.length === 0 ? 'none' : given.map((g) => `${g.kind}_id`).join(', ')})`, 'missing_container');
      }
      const container = given[0]!;
      if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(container.id)) throw badRequest(`query.${container.kind}_id: not a valid id`, 'invalid_parameter');
      if (container.kind === 'space' && !spaces.has(container.id)) throw notFound('space', container.id);
      return container;
    };

    const sameContainer = (a: ContainerRef, b: ContainerRef): boolean => a.kind === b.kind && a.id === b.id;

    const assetIn = (id: string, container: ContainerRef): AssetDoc => {
      const asset = assets.get(id);
      if (!asset || !sameContainer(asset.container, container)) throw notFound('asset', id);
      return asset;
    };

    const attachmentOf = (asset: AssetDoc, id: string): AttachmentDoc => {
      const a = asset.attachments.find((x) => x.id === id);
      if (!a) throw notFound('attachment', id);
      return a;
    };

    /** The attachment id inside a handle key `data_asset/<id>` (any other key names nothing). */
    const idOfKey = (key: string): string => /^data_asset\/([A-Za-z0-9-]+)$/.exec(key)?.[1] ?? '';

    /** The attachment behind a handle key, current or in a revision snapshot. */
    const findByKey = (key: string): { asset: AssetDoc; attachment: AttachmentDoc } => {
      const id = idOfKey(key);
      if (id) {
        for (const asset of assets.values()) {
          const current = asset.attachments.find((a) => a.id === id);
          if (current) return { asset, attachment: current };
          for (const r of asset.revisions) {
            const old = r.attachments.find((a) => a.id === id);
            if (old) return { asset, attachment: old };
          }
        }
      }
      throw notFound('asset file', key);
    };

    const dropBlobs = async (keys: Iterable<string>): Promise<void> => {
      for (const key of keys) await host.blobs.delete(key);
    };

    const deleteAsset = async (asset: AssetDoc): Promise<void> => {
      await assets.delete(asset.id);
      await dropBlobs(blobKeysOf(asset));
    };

    const touch = (asset: AssetDoc, ctx: RequestContext<unknown, unknown>): AssetDoc => ({
      ...asset,
      last_updated_at: now(),
      last_updater_id: ctx.principal?.uid ?? asset.last_updater_id,
    });

    const requireActiveSpace = (container: ContainerRef): void => {
      if (container.kind !== 'space') return;
      const space = spaces.get(container.id)!;
      const state = spaceState(space);
      if (state !== 'active') throw conflict(`space '${space.id}' is ${state}: wait until its state is active`, 'space_not_active');
    };

    // ---- spaces ---------------------------------------------------------------------------------

    host.get('/v2/spaces', { query: SpaceListQuery }, (ctx) => {
      const limit = ctx.query.limit ?? 100;
      const start = ctx.query.start === undefined ? 0 : decodeOffset(ctx.query.start, 'query.start');
      const all = spaces.values().sort(byCreation);
      const page = all.slice(start, start + limit);
      const body: Record<string, unknown> = {
        resources: page.map(spaceView),
        first: { href: `/v2/spaces?limit=${limit}` },
        limit,
        total_results: all.length,
      };
      if (start + limit < all.length) body.next = { href: `/v2/spaces?limit=${limit}&start=${encodeOffset(start + limit)}` };
      return reply.json(200, body);
    });

    host.post('/v2/spaces', { body: SpaceCreateRequest }, async (ctx) => {
      const at = now();
      const doc: SpaceDoc = {
        id: randomUUID(),
        name: ctx.body.name,
        description: ctx.body.description,
        tags: ctx.body.tags ?? [],
        generator: ctx.body.generator,
        storage: ctx.body.storage,
        compute: ctx.body.compute,
        created_at: at,
        updated_at: at,
        creator_id: ctx.principal!.uid,
        ready_at: new Date(Date.now() + host.config.spaceActivationDelayMs).toISOString(),
      };
      await spaces.put(doc.id, doc);
      const view = spaceView(doc);
      view.entity.status = { state: 'preparing' }; // a 202: creation is asynchronous
      return reply.json(202, view);
    });

    host.get('/v2/spaces/:spaceId', (ctx) => {
      const space = spaces.get(ctx.params.spaceId!);
      if (!space) throw notFound('space', ctx.params.spaceId!);
      return reply.json(200, spaceView(space));
    });

    host.patch('/v2/spaces/:spaceId', { body: JsonPatch }, (ctx) =>
      host.store.lock(async () => {
        const space = spaces.get(ctx.params.spaceId!);
        if (!space) throw notFound('space', ctx.params.spaceId!);
        const next: SpaceDoc = { ...space, updated_at: now() };
        ctx.body.forEach((op, i) => {
          const where = `body[${i}]`;
          if (op.op !== 'replace' && op.op !== 'add' && op.op !== 'remove') throw badRequest(`${where}.op: only add, replace and remove are supported`, 'invalid_patch');
          if (op.path === '/name') {
            if (op.op === 'remove' || typeof op.value !== 'string' || op.value === '') throw badRequest(`${where}.value: /name needs a non-empty string`, 'invalid_patch');
            next.name = op.value;
          } else if (op.path === '/description') {
            if (op.op === 'remove') next.description = undefined;
            else if (typeof op.value !== 'string') throw badRequest(`${where}.value: /description needs a string`, 'invalid_patch');
            else next.description = op.value;
          } else if (op.path === '/tags') {
            if (op.op === 'remove') next.tags = [];
            else if (!Array.isArray(op.value) || !op.value.every((t) => typeof t === 'string')) throw badRequest(`${where}.value: /tags needs an array of strings`, 'invalid_patch');
            else next.tags = op.value as string[];
          } else {
            throw badRequest(`${where}.path: ${op.path} cannot be patched (name, description, tags can)`, 'invalid_patch');
          }
        });
        await spaces.put(next.id, next);
        return reply.json(200, spaceView(next));
      }),
    );

    host.delete('/v2/spaces/:spaceId', (ctx) =>
      host.store.lock(async () => {
        const space = spaces.get(ctx.params.spaceId!);
        if (!space) throw notFound('space', ctx.params.spaceId!);
        // Assets first: a kill half-way leaves the space with fewer assets, never orphans.
        for (const asset of assets.values()) {
          if (asset.container.kind === 'space' && asset.container.id === space.id) await deleteAsset(asset);
        }
        await spaces.delete(space.id);
        return reply.empty(202);
      }),
    );

    // ---- assets ---------------------------------------------------------------------------------

    host.post('/v2/assets', { body: AssetCreateRequest }, async (ctx) => {
      const container = containerOf(ctx.searchParams)!;
      requireActiveSpace(container);
      const { metadata, entity } = ctx.body;
      checkName(metadata.name, 'metadata.name');
      const at = now();
      const doc: AssetDoc = {
        id: randomUUID(),
        container,
        name: metadata.name,
        description: metadata.description,
        tags: metadata.tags ?? [],
        mime_type: entity?.data_asset?.mime_type ?? 'application/octet-stream',
        asset_category: metadata.asset_category ?? 'USER',
        origin_country: metadata.origin_country ?? 'us',
        created_at: at,
        creator_id: ctx.principal!.uid,
        last_updated_at: at,
        last_updater_id: ctx.principal!.uid,
        attachments: [],
        revisions: [],
      };
      await assets.put(doc.id, doc);
      return reply.json(201, assetView(doc));
    });

    host.get('/v2/assets/:assetId', (ctx) => {
      const container = containerOf(ctx.searchParams)!;
      const asset = assetIn(ctx.params.assetId!, container);
      const rev = ctx.searchParams.get('revision_id');
      if (rev === null || rev === '-1' || rev === 'latest') return reply.json(200, assetView(asset));
      if (!/^\d+$/.test(rev)) throw badRequest(`query.revision_id: expected an integer, got '${rev}'`, 'invalid_parameter');
      const revision = asset.revisions.find((r) => r.revision_id === Number(rev));
      if (!revision) throw notFound(`revision of asset ${asset.id}`, rev);
      return reply.json(200, assetView(asset, { revision }));
    });

    host.delete('/v2/assets/:assetId', (ctx) =>
      host.store.lock(async () => {
        const container = containerOf(ctx.searchParams)!;
        await deleteAsset(assetIn(ctx.params.assetId!, container));
        return reply.empty(204);
      }),
    );

    host.post('/v2/assets/:assetId/attachments', { body: AttachmentCreateRequest }, (ctx) =>
      host.store.lock(async () => {
        const container = containerOf(ctx.searchParams)!;
        const asset = assetIn(ctx.params.assetId!, container);
        const body = ctx.body;
        if (body.is_remote || body.connection_id || body.connection_path) {
          throw badRequest('body.is_remote: remote attachments (connections) are not supported by the sandbox; upload the bytes instead', 'unsupported');
        }
        if (body.asset_type !== undefined && body.asset_type !== 'data_asset') throw badRequest(`body.asset_type: expected 'data_asset', got '${body.asset_type}'`);
        checkName(body.name, 'body.name');
        const attachment: AttachmentDoc = {
          id: randomUUID(),
          name: body.name,
          mime: body.mime ?? asset.mime_type,
          asset_type: 'data_asset',
          description: body.description,
          state: 'pending',
          created_at: now(),
        };
        await assets.put(asset.id, { ...asset, attachments: [...asset.attachments, attachment] });
        const url1 = `/v2/asset_files/${handleKey(attachment)}?${containerQuery(container)}&signature=${host.auth.sign(`upload:${attachment.id}`)}`;
        return reply.json(201, { attachment_id: attachment.id, url1, asset_type: attachment.asset_type, name: attachment.name, mime: attachment.mime, ...attachmentView(attachment) });
      }),
    );

    host.get('/v2/assets/:assetId/attachments/:attachmentId', (ctx) => {
      const container = containerOf(ctx.searchParams)!;
      const asset = assetIn(ctx.params.assetId!, container);
      const attachment = attachmentOf(asset, ctx.params.attachmentId!);
      const body: Record<string, unknown> = { attachment_id: attachment.id, ...attachmentView(attachment) };
      if (attachment.state === 'complete') {
        body.url = `/v2/asset_files/${handleKey(attachment)}?${containerQuery(container)}&signature=${host.auth.sign(`download:${attachment.id}`)}`;
      }
      return reply.json(200, body);
    });

    host.delete('/v2/assets/:assetId/attachments/:attachmentId', (ctx) =>
      host.store.lock(async () => {
        const container = containerOf(ctx.searchParams)!;
        const asset = assetIn(ctx.params.assetId!, container);
        const attachment = attachmentOf(asset, ctx.params.attachmentId!);
        const next = touch({ ...asset, attachments: asset.attachments.filter((a) => a.id !== attachment.id) }, ctx);
        await assets.put(asset.id, next);
        if (attachment.blob && !blobKeysOf(next).has(attachment.blob.key)) await host.blobs.delete(attachment.blob.key);
        return reply.empty(204);
      }),
    );

    host.post('/v2/assets/:assetId/attachments/:attachmentId/complete', (ctx) =>
      host.store.lock(async () => {
        const container = containerOf(ctx.searchParams)!;
        const asset = assetIn(ctx.params.assetId!, container);
        const attachment = attachmentOf(asset, ctx.params.attachmentId!);
        if (attachment.state === 'pending') {
          throw conflict(`attachment '${attachment.id}' has no uploaded bytes: PUT them to its url1 first`, 'upload_not_finished');
        }
        let done = attachment;
        if (attachment.state === 'uploaded') {
          done = { ...attachment, state: 'complete', completed_at: now() };
          const next = touch({ ...asset, attachments: asset.attachments.map((a) => (a.id === done.id ? done : a)) }, ctx);
          await assets.put(asset.id, next);
        }
        return reply.json(200, { attachment_id: done.id, ...attachmentView(done) });
      }),
    );

    // ---- bytes ----------------------------------------------------------------------------------

    /** Bearer token, or the signature of a URL this module handed out. */
    const authorizeTransfer = (ctx: RequestContext<unknown, unknown>, purpose: 'upload' | 'download', attachmentId: string): void => {
      if (host.auth.checkSignature(`${purpose}:${attachmentId}`, ctx.searchParams.get('signature'))) return;
      if (ctx.searchParams.get('signature') !== null && !ctx.req.headers.authorization) throw unauthorized(`the signature of this ${purpose} URL is invalid`);
      host.auth.authenticate(ctx.req, 'bearer');
      containerOf(ctx.searchParams);
    };

    host.put('/v2/asset_files/*key', { auth: 'none', body: 'stream' }, async (ctx) => {
      authorizeTransfer(ctx, 'upload', idOfKey(ctx.params.key!));
      const { asset, attachment } = findByKey(ctx.params.key!);
      const container = containerOf(ctx.searchParams, false);
      if (container && !sameContainer(container, asset.container)) throw notFound('asset file', ctx.params.key!);
      if (attachment.state === 'complete') throw conflict(`attachment '${attachment.id}' is complete: create a new attachment to upload new bytes`, 'attachment_complete');
      let info: BlobInfo;
      try {
        info = await receiveUpload(ctx.req, 'file', (stream) => host.blobs.write(stream, { maxBytes: host.config.maxUploadBytes }));
      } catch (err) {
        if (err instanceof BlobTooLargeError) throw payloadTooLarge(`the upload is larger than the limit of ${err.limit} bytes`);
        throw err;
      }
      // Record under the lock; the bytes are already durable under their own key.
      return host.store.lock(async () => {
        const current = assets.get(asset.id);
        const target = current?.attachments.find((a) => a.id === attachment.id);
        if (!current || !target || target.state === 'complete') {
          await host.blobs.delete(info.key);
          if (!current || !target) throw notFound('attachment', attachment.id);
          throw conflict(`attachment '${attachment.id}' was completed meanwhile`, 'attachment_complete');
        }
        const updated: AttachmentDoc = { ...target, state: 'uploaded', uploaded_at: now(), blob: info };
        const next = { ...current, attachments: current.attachments.map((a) => (a.id === updated.id ? updated : a)) };
        await assets.put(current.id, next);
        if (target.blob && !blobKeysOf(next).has(target.blob.key)) await host.blobs.delete(target.blob.key);
        return reply.json(201, { attachment_id: updated.id, status: 'uploaded', bytes: info.size });
      });
    });

    host.get('/v2/asset_files/*key', { auth: 'none' }, (ctx) => {
      authorizeTransfer(ctx, 'download', idOfKey(ctx.params.key!));
      const { asset, attachment } = findByKey(ctx.params.key!);
      const container = containerOf(ctx.searchParams, false);
      if (container && !sameContainer(container, asset.container)) throw notFound('asset file', ctx.params.key!);
      if (attachment.state !== 'complete' || !attachment.blob) {
        throw conflict(`attachment '${attachment.id}' is not complete (state ${attachment.state})`, 'attachment_not_complete');
      }
      return reply.stream(200, host.blobs.createReadStream(attachment.blob.key), {
        'content-type': attachment.mime || 'application/octet-stream',
        'content-length': String(attachment.blob.size),
        'content-disposition': contentDisposition(attachment.name),
        etag: `"${attachment.blob.sha256}"`,
      });
    });

    // ---- search ---------------------------------------------------------------------------------

    host.post('/v2/asset_types/data_asset/search', { body: AssetSearchRequest }, (ctx) => {
      const container = containerOf(ctx.searchParams)!;
      const query = parseAssetQuery(ctx.body.query);
      const limit = ctx.body.limit ?? 200;
      const offset = ctx.body.bookmark === undefined ? 0 : decodeOffset(ctx.body.bookmark, 'body.bookmark');
      const matches = assets
        .find((a) => sameContainer(a.container, container))
        .filter((a) => (query.kind === 'all' ? true : query.kind === 'name' ? a.name === query.name : a.id === query.id))
        .sort(byCreation);
      const include = (ctx.body.include ?? '').split(',').map((s) => s.trim());
      const page = matches.slice(offset, offset + limit);
      const body: AssetSearchResponse = {
        total_rows: matches.length,
        results: page.map((a) => assetView(a, { includeAttachments: include.includes('attachments') })),
      };
      if (offset + limit < matches.length) body.next = { ...ctx.body, limit, bookmark: encodeOffset(offset + limit) };
      return reply.json(200, body);
    });

    host.get('/v3/search', (ctx) => {
      const text = ctx.searchParams.get('query');
      if (!text) throw badRequest('query.query: required (e.g. metadata.name:<name> AND entity.assets.space_id:<id>)', 'invalid_query');
      const q = parseGlobalQuery(text);
      const rows = assets
        .find((a) => (q.name === undefined || a.name === q.name) && (q.artifactId === undefined || a.id === q.artifactId) && (q.container === undefined || sameContainer(a.container, q.container)))
        .sort(byCreation)
        .map((a) => ({
          artifact_id: a.id,
          metadata: { name: a.name, description: a.description ?? '', artifact_type: 'data_asset', created: Date.parse(a.created_at), modified: Date.parse(a.last_updated_at) },
          entity: { assets: { [`${a.container.kind}_id`]: a.container.id, asset_type: 'data_asset' } },
        }));
      return reply.json(200, { size: rows.length, rows });
    });

    // ---- revisions ------------------------------------------------------------------------------

    host.post('/v2/assets/:assetId/revisions', { body: RevisionCreateRequest.optional() }, (ctx) =>
      host.store.lock(async () => {
        const container = containerOf(ctx.searchParams)!;
        const asset = assetIn(ctx.params.assetId!, container);
        const revision = {
          revision_id: asset.revisions.reduce((max, r) => Math.max(max, r.revision_id), 0) + 1,
          commit_message: ctx.body?.commit_message,
          created_at: now(),
          created_by: ctx.principal!.uid,
          name: asset.name,
          description: asset.description,
          tags: asset.tags,
          mime_type: asset.mime_type,
          last_updated_at: asset.last_updated_at,
          attachments: asset.attachments.filter((a) => a.state === 'complete'),
        };
        await assets.put(asset.id, { ...asset, revisions: [...asset.revisions, revision] });
        return reply.json(201, revisionView(asset, revision));
      }),
    );

    host.get('/v2/assets/:assetId/revisions', (ctx) => {
      const container = containerOf(ctx.searchParams)!;
      const asset = assetIn(ctx.params.assetId!, container);
      return reply.json(200, { results: asset.revisions.map((r) => revisionView(asset, r)), total_count: asset.revisions.length });
    });

    const api: WmlApi = {
      space: (id) => {
        const s = spaces.get(id);
        return s ? { id: s.id, name: s.name, state: spaceState(s) } : undefined;
      },
      assets: (container) => assets.find((a) => sameContainer(a.container, container)).map((a) => ({ id: a.id, name: a.name })),
    };
    host.expose(api);

    return {
      status: () => {
        const lines: string[] = [];
        const data: unknown[] = [];
        const containers = new Map<string, { label: string; assets: AssetDoc[] }>();
        for (const s of spaces.values().sort(byCreation)) {
          containers.set(`space:${s.id}`, { label: `space "${s.name}" (${s.id}) ${spaceState(s)}`, assets: [] });
        }
        for (const a of assets.values().sort(byCreation)) {
          const key = `${a.container.kind}:${a.container.id}`;
          if (!containers.has(key)) containers.set(key, { label: `${a.container.kind} ${a.container.id}`, assets: [] });
          containers.get(key)!.assets.push(a);
        }
        for (const { label, assets: list } of containers.values()) {
          lines.push(`${label}: ${list.length} asset(s)`);
          for (const a of list) {
            const complete = a.attachments.filter((x) => x.state === 'complete');
            const size = complete.reduce((n, x) => n + (x.blob?.size ?? 0), 0);
            const pending = a.attachments.length - complete.length;
            lines.push(`  ${a.name} (${a.id}) ${size} bytes${pending ? `, ${pending} unfinished upload(s)` : ''}${a.revisions.length ? `, ${a.revisions.length} revision(s)` : ''}`);
          }
        }
        for (const s of spaces.values()) {
          data.push({
            space: spaceView(s),
            assets: assets
              .find((a) => a.container.kind === 'space' && a.container.id === s.id)
              .map((a) => ({ ...assetView(a), files: a.attachments.map((x) => ({ id: x.id, state: x.state, size: x.blob?.size, sha256: x.blob?.sha256 })) })),
          });
        }
        return { title: 'WML spaces and data assets', lines, data };
      },
    };
  },
});

export { ApiError };
