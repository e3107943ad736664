import { createHash, randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Asset, AssetSearchResponse, AttachmentCreateResponse, AttachmentDetails, Revision, RevisionList, type AssetSearchRequest } from '../contracts/wml';
import { RunbookError, ValidationError } from '../errors';
import { RemoteApiError } from '../http/errors';
import { PLANNED_ID, type MutationOptions } from '../plan';
import { byCreation, call, isAmbiguousFailure, isNotFound, type WmlContext } from './context';
import { mimeTypeFor } from './mime';
import { bytesSource, pathSource, type UploadSource } from './source';
import { receiveToFile, sendBytes, TransferIntegrityError, type SentBytes, type TransferProgress } from './transfer';

/**
 * CAMS data assets of one deployment space (ibm-api-contracts.md §2.3): list, find the latest by
 * name, upload files, folders and content, download, delete.
 *
 * Rules that fix the predecessor's bugs (predecessor-runbook.md §8.7):
 * - "Latest" is the newest *complete* asset by `created_at` (then asset id), never API order.
 *   Creation time is immutable, so the answer cannot change when someone edits an old asset.
 * - An upload is complete only after all four steps (create, attachment, bytes, complete); a step
 *   that fails deletes the half-made asset, so readers never see it as content.
 * - `overwrite: 'replace'` uploads and completes the new asset FIRST and only then deletes the older
 *   same-name assets: there is never a moment without a complete copy, and none is left over.
 * - Creating an asset is not idempotent, so a failed create is never blindly re-sent: each create
 *   carries a unique `upload-id:` tag, and after an ambiguous failure (no answer, 5xx) the client
 *   searches for that tag and adopts the asset if the service did create it.
 */

/** Tag on every asset the runbook uploads. */
export const RUNBOOK_TAG = 'cpd-runbook';
const SHA_TAG = 'sha256:';
const MANIFEST_TAG = 'manifest-sha256:';
const UPLOAD_TAG = 'upload-id:';

/** A data asset as the runbook sees it; `raw` is the service's document. */
export interface AssetInfo {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** ISO time the asset was created (server clock). */
  readonly createdAt: string;
  readonly lastUpdatedAt?: string;
  readonly mimeType?: string;
  /** Bytes of its complete attachments, as the service reports them. */
  readonly size?: number;
  /** True when it has an attachment and every attachment's transfer is complete. */
  readonly complete: boolean;
  /** SHA-256 of the bytes, recorded at upload for files and content (tag `sha256:`). */
  readonly sha256?: string;
  /** Fingerprint of a folder's files, recorded at upload of a folder with skipIfUnchanged (tag `manifest-sha256:`). */
  readonly manifestSha256?: string;
  readonly raw: Asset;
}

/** Which asset: by id, or the latest complete one of a name. */
export type AssetRef = { readonly id: string } | { readonly name: string };

/** What to do when a complete asset of the same name exists. */
export type OverwriteMode = 'replace' | 'keep' | 'error';

/** Options of {@link DataAssets.upload} and {@link DataAssets.uploadContent}. */
export interface UploadOptions extends MutationOptions {
  /** Asset name; default the file name, or the folder name + `.zip`. */
  readonly name?: string;
  /**
   * - `replace` (default): upload, then delete every older same-name asset; the newest upload wins.
   * - `keep`: find-or-create: an existing complete asset is returned and nothing is uploaded. When
   *   runs race to create the name, the copy that completes first stands and the others remove
   *   themselves, so every run returns the same asset.
   * - `error`: an existing complete asset is an {@link AssetExistsError}.
   */
  readonly overwrite?: OverwriteMode;
  /**
   * With `replace`: when the latest asset of that name records the same content fingerprint, upload
   * nothing and return it (`action: 'unchanged'`). Costs one extra read of the source to fingerprint
   * it (files: SHA-256; folders: SHA-256 of every file); the fingerprint is recorded on the new asset.
   */
  readonly skipIfUnchanged?: boolean;
  readonly description?: string;
  /** Extra tags; `cpd-runbook` and the runbook's own tags are added. */
  readonly tags?: readonly string[];
  /** Folders only: deflate the zip entries (default true); false stores them (faster for compressed weights). */
  readonly compress?: boolean;
  /** Called through the phases of the upload (fingerprint, bytes sent, verification); see {@link TransferProgress}. */
  readonly onProgress?: (p: TransferProgress) => void;
  readonly signal?: AbortSignal;
}

/** The outcome of an upload. */
export interface UploadResult {
  /**
   * `uploaded`; `unchanged` (skipIfUnchanged found the same content); `kept` (overwrite `keep`
   * found an asset); `superseded` (replace: a newer upload of the same name finished first, so this
   * one was discarded and `asset` is the newer one).
   */
  readonly action: 'uploaded' | 'unchanged' | 'kept' | 'superseded';
  /** The asset that now holds the name (planned: id `(planned)`). */
  readonly asset: AssetInfo;
  /** True in plan mode: nothing was changed. */
  readonly planned: boolean;
  /** Bytes sent and their SHA-256 (for a folder: of the zip). */
  readonly bytes?: number;
  readonly sha256?: string;
  /** Ids of the assets deleted (or, planned, to be deleted). */
  readonly deleted: readonly string[];
  /** Older copies that could not be deleted (the upload itself succeeded; the next replace retries). */
  readonly warnings?: readonly string[];
}

/** Options of {@link DataAssets.download}. */
export interface DownloadOptions {
  /** Called as bytes arrive (and while the checksum is verified); see {@link TransferProgress}. */
  readonly onProgress?: (p: TransferProgress) => void;
  readonly signal?: AbortSignal;
  /** Abort when no byte arrives for this long (default 60 s). */
  readonly idleTimeoutMs?: number;
}

/** The outcome of a download. */
export interface DownloadResult {
  readonly asset: AssetInfo;
  /** Where the bytes were written. */
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  /** Whether a SHA-256 from the service (ETag) or from the upload (tag) confirmed the bytes. */
  readonly checksumVerified: boolean;
}

/** overwrite `error` met an existing asset of that name. */
export class AssetExistsError extends RunbookError {
  constructor(readonly assetName: string, readonly existingId: string, where: string) {
    super('validation', `a data asset named "${assetName}" already exists in ${where} (${existingId}); upload with overwrite 'replace' to replace it or 'keep' to use it`);
  }
}

/** No asset with that id or name. */
export class AssetNotFoundError extends RunbookError {
  constructor(what: string, where: string) {
    super('remote', `no ${what} in ${where}`);
  }
}

/** Completion order: last_updated_at (stamped when the upload completed), then creation, then id. */
function byCompletion(a: AssetInfo, b: AssetInfo): number {
  const x = Date.parse(a.lastUpdatedAt ?? a.createdAt);
  const y = Date.parse(b.lastUpdatedAt ?? b.createdAt);
  return x !== y ? x - y : byCreation(a, b);
}

function tagValue(tags: readonly string[], prefix: string): string | undefined {
  const t = tags.find((x) => x.startsWith(prefix));
  return t ? t.slice(prefix.length) : undefined;
}

/** The runbook's view of an asset document. */
export function assetInfo(raw: Asset): AssetInfo {
  const m = raw.metadata;
  const tags = m.tags ?? [];
  const attachments = raw.attachments ?? [];
  const complete = attachments.length > 0 && attachments.every((a) => a.transfer_complete !== false);
  return {
    id: m.asset_id,
    name: m.name,
    description: m.description || undefined,
    tags,
    createdAt: m.created_at,
    lastUpdatedAt: m.last_updated_at ?? m.usage?.last_updated_at,
    mimeType: raw.entity?.data_asset?.mime_type,
    size: m.size ?? (attachments.length ? attachments.reduce((n, a) => n + (a.size ?? 0), 0) : undefined),
    complete,
    sha256: tagValue(tags, SHA_TAG),
    manifestSha256: tagValue(tags, MANIFEST_TAG),
    raw,
  };
}

/** Lucene phrase for an exact name: quotes and backslashes escaped. */
function nameQuery(name: string): string {
  return `asset.name:"${name.replace(/(["\\])/g, '\\$1')}"`;
}

function checkName(name: string): void {
  // eslint-disable-next-line no-control-regex
  if (!name || /[\u0000-\u001f\u007f]/.test(name) || name.trim() !== name) {
    throw new ValidationError(`asset name ${JSON.stringify(name)} is not allowed: give a non-empty name without control characters or surrounding spaces`, [
      { path: 'name', message: 'expected a non-empty name without control characters' },
    ]);
  }
}

/** Data assets of one deployment space. Get one from {@link WmlClient.assets}. */
export class DataAssets {
  /** Where the assets live, for messages. */
  readonly where: string;
  private readonly query: { space_id: string };

  constructor(private readonly ctx: WmlContext, readonly spaceId: string) {
    if (!spaceId) throw new ValidationError('a space id is required for data assets', [{ path: 'spaceId', message: 'expected a space id' }]);
    this.query = { space_id: spaceId };
    this.where = `space ${spaceId}`;
  }

  /** The server clock shared with the space operations (for protocols that reason about age). */
  get clock() {
    return this.ctx.clock;
  }

  /** The client's settle window (see {@link WmlOptions.settleMs}). */
  get settleMs(): number {
    return this.ctx.settleMs;
  }

  /**
   * Every asset of the space, or every asset named exactly `name`, oldest first (by creation).
   * Follows the search's `next` pages.
   */
  async list(opts: { name?: string; pageSize?: number } = {}): Promise<AssetInfo[]> {
    const out: AssetInfo[] = [];
    let body: AssetSearchRequest | undefined = {
      query: opts.name === undefined ? '*:*' : nameQuery(opts.name),
      limit: opts.pageSize ?? 200,
      include: 'entity,attachments',
    };
    for (let page = 0; body && page < 10000; page++) {
      const res: AssetSearchResponse = await call(this.ctx, {
        method: 'POST',
        path: '/v2/asset_types/data_asset/search',
        query: this.query,
        body: body as Record<string, unknown>,
        schema: AssetSearchResponse,
        idempotent: true, // a search changes nothing
      });
      for (const raw of res.results) {
        this.ctx.clock.observe(raw.metadata.created_at);
        // The service matches names as text; keep exact matches only.
        if (opts.name === undefined || raw.metadata.name === opts.name) out.push(assetInfo(raw));
      }
      body = res.next && res.results.length > 0 ? res.next : undefined;
    }
    return out.sort(byCreation);
  }

  /** One asset by id; a 404 is a {@link RemoteApiError}. */
  async get(id: string): Promise<AssetInfo> {
    const raw = await call(this.ctx, { path: `/v2/assets/${encodeURIComponent(id)}`, query: this.query, schema: Asset });
    this.ctx.clock.observe(raw.metadata.created_at);
    return assetInfo(raw);
  }

  /** One asset by id, or undefined when there is none. */
  async find(id: string): Promise<AssetInfo | undefined> {
    try {
      return await this.get(id);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The newest complete asset named `name` (by creation time, then id), or undefined. */
  async findLatest(name: string): Promise<AssetInfo | undefined> {
    const complete = (await this.list({ name })).filter((a) => a.complete);
    return complete[complete.length - 1];
  }

  /** The asset a reference names; {@link AssetNotFoundError} when none. */
  async resolve(ref: AssetRef): Promise<AssetInfo> {
    if ('id' in ref) {
      const found = await this.find(ref.id);
      if (!found) throw new AssetNotFoundError(`data asset with id ${ref.id}`, this.where);
      return found;
    }
    const latest = await this.findLatest(ref.name);
    if (!latest) throw new AssetNotFoundError(`complete data asset named "${ref.name}"`, this.where);
    return latest;
  }

  /** Deletes an asset; false when it was already gone. Plan mode records the deletion of an existing asset. */
  async delete(id: string, opts: MutationOptions & { name?: string } = {}): Promise<boolean> {
    if (opts.plan) {
      const found = await this.find(id);
      if (!found) return false;
      opts.plan.record({ service: 'wml', action: 'delete', resource: 'data_asset', target: `${found.name} (${id})`, detail: this.where });
      return true;
    }
    const res = await this.ctx.http.send({ method: 'DELETE', path: `/v2/assets/${encodeURIComponent(id)}`, query: this.query, allowStatus: [404], responseType: 'text' });
    return res.status !== 404;
  }

  /** Deletes every asset named `name`; returns their ids. */
  async deleteByName(name: string, opts: MutationOptions = {}): Promise<string[]> {
    const ids: string[] = [];
    for (const a of await this.list({ name })) if (await this.delete(a.id, opts)) ids.push(a.id);
    return ids;
  }

  /** Best-effort delete used on failure paths: the original error matters more than this one. */
  private async deleteQuietly(id: string): Promise<void> {
    try {
      await this.delete(id);
    } catch {
      /* left behind as an incomplete asset: readers ignore it and it is cleaned once stale */
    }
  }

  /**
   * Uploads a file (streamed from disk) or a folder (zipped while streaming; the archive holds the
   * folder itself, `name/…`, like `zip -r name.zip name`). Memory stays flat for any size. See
   * {@link UploadOptions} for the overwrite rules; plan mode records the changes and makes none.
   *
   * @example
   * const { asset } = await wml.assets(spaceId).upload('models/deepliif', { onProgress: (p) => bar.update(p.bytes) });
   */
  async upload(path: string, opts: UploadOptions = {}): Promise<UploadResult> {
    return this.uploadSource(await pathSource(path, { compress: opts.compress }), opts);
  }

  /** Uploads content held in memory (a metadata document, a small file) under `name`, with the same rules as {@link upload}. */
  async uploadContent(name: string, content: string | Uint8Array, opts: Omit<UploadOptions, 'name' | 'compress'> = {}): Promise<UploadResult> {
    return this.uploadSource(bytesSource(name, content), { ...opts, name });
  }

  /** The upload behind {@link upload} and {@link uploadContent}. */
  async uploadSource(source: UploadSource, opts: UploadOptions = {}): Promise<UploadResult> {
    const name = opts.name ?? source.defaultName;
    checkName(name);
    const mode: OverwriteMode = opts.overwrite ?? 'replace';
    const existing = await this.list({ name });
    const completeOnes = existing.filter((a) => a.complete);
    const latest = completeOnes[completeOnes.length - 1];

    if (latest && mode === 'error') throw new AssetExistsError(name, latest.id, this.where);
    if (latest && mode === 'keep') return { action: 'kept', asset: latest, planned: !!opts.plan, deleted: [] };

    let fingerprint: string | undefined;
    if (source.kind === 'bytes' || opts.skipIfUnchanged) {
      let hashed = 0;
      fingerprint = await source.fingerprint((n) => {
        hashed += n;
        opts.onProgress?.({ phase: 'hash', bytes: hashed, totalBytes: source.size });
      });
    }
    const fingerprintTag = fingerprint === undefined ? undefined : `${source.kind === 'folder' ? MANIFEST_TAG : SHA_TAG}${fingerprint}`;
    if (latest && opts.skipIfUnchanged && fingerprintTag && latest.tags.includes(fingerprintTag)) {
      return { action: 'unchanged', asset: latest, planned: !!opts.plan, deleted: [] };
    }

    const mime = mimeTypeFor(name);
    const tags = [RUNBOOK_TAG, ...(fingerprintTag ? [fingerprintTag] : []), ...(opts.tags ?? []).filter((t) => t !== RUNBOOK_TAG)];
    if (opts.plan) {
      const doomed = mode === 'replace' ? existing.filter((a) => a.complete || this.isStale(a)) : [];
      opts.plan.record({
        service: 'wml',
        action: 'upload',
        resource: 'data_asset',
        target: name,
        detail: `${source.where}${source.size !== undefined ? ` (${source.size} bytes)` : source.kind === 'folder' ? ' (zipped)' : ''} to ${this.where}`,
      });
      for (const a of doomed) {
        opts.plan.record({ service: 'wml', action: 'delete', resource: 'data_asset', target: `${name} (${a.id})`, detail: 'replaced by the new upload' });
      }
      const now = new Date().toISOString();
      const planned: AssetInfo = {
        id: PLANNED_ID,
        name,
        description: opts.description,
        tags,
        createdAt: now,
        mimeType: mime,
        size: source.size,
        complete: false,
        raw: { metadata: { asset_id: PLANNED_ID, name, asset_type: 'data_asset', created_at: now, tags } },
      };
      return { action: 'uploaded', asset: planned, planned: true, deleted: doomed.map((a) => a.id) };
    }

    const { asset: ours, sent } = await this.putNew(source, { name, mime, description: opts.description ?? `Uploaded by cpd-runbook from ${basename(source.where)}`, tags, onProgress: opts.onProgress, signal: opts.signal });

    // Settle with whatever other runs did meanwhile (same name, concurrent uploads).
    const after = await this.list({ name });
    const others = after.filter((a) => a.id !== ours.id);
    const otherComplete = others.filter((a) => a.complete);
    if (mode !== 'replace') {
      // Find-or-create raced with another run: the copy that COMPLETED first stands (both runs agree,
      // whichever lists first), a later one removes itself. Completion time is the service's
      // last_updated_at, stamped by the complete call.
      const first = [ours, ...otherComplete].sort(byCompletion)[0]!;
      if (first.id !== ours.id) {
        await this.delete(ours.id);
        if (mode === 'error') throw new AssetExistsError(name, first.id, this.where);
        return { action: 'kept', asset: first, planned: false, deleted: [ours.id] };
      }
      return { action: 'uploaded', asset: ours, planned: false, bytes: sent.bytes, sha256: sent.sha256, deleted: [] };
    }
    const newer = otherComplete.filter((a) => byCreation(a, ours) > 0);
    if (newer.length > 0) {
      // A later-started upload finished first: it is the newest, ours is superseded at birth.
      await this.delete(ours.id);
      return { action: 'superseded', asset: newer[newer.length - 1]!, planned: false, bytes: sent.bytes, sha256: sent.sha256, deleted: [ours.id] };
    }
    const deleted: string[] = [];
    const warnings: string[] = [];
    for (const a of others) {
      if ((a.complete && byCreation(a, ours) < 0) || (!a.complete && this.isStale(a))) {
        try {
          if (await this.delete(a.id)) deleted.push(a.id);
        } catch (err) {
          warnings.push(`could not delete the older "${name}" (${a.id}): ${(err as Error).message}`);
        }
      }
    }
    return { action: 'uploaded', asset: ours, planned: false, bytes: sent.bytes, sha256: sent.sha256, deleted, ...(warnings.length ? { warnings } : {}) };
  }

  /**
   * Always creates a NEW asset holding the source (the four steps, cleaned up on failure) and never
   * touches other assets of the name. For protocols that manage same-name copies themselves (the
   * space metadata store); {@link upload} is the everyday call.
   */
  async uploadNew(
    source: UploadSource,
    opts: { name?: string; description?: string; tags?: readonly string[]; onProgress?: (p: TransferProgress) => void; signal?: AbortSignal } = {},
  ): Promise<{ asset: AssetInfo; bytes: number; sha256: string }> {
    const name = opts.name ?? source.defaultName;
    checkName(name);
    // In-memory content is hashed for free: record it so downloads can verify it.
    const shaTag = source.kind === 'bytes' ? [`${SHA_TAG}${await source.fingerprint()}`] : [];
    const tags = [RUNBOOK_TAG, ...shaTag, ...(opts.tags ?? []).filter((t) => t !== RUNBOOK_TAG)];
    const { asset, sent } = await this.putNew(source, { name, mime: mimeTypeFor(name), description: opts.description ?? 'Uploaded by cpd-runbook', tags, onProgress: opts.onProgress, signal: opts.signal });
    return { asset, bytes: sent.bytes, sha256: sent.sha256 };
  }

  /**
   * Creates an asset without content (a marker or log anchor), safe to repeat after an ambiguous
   * failure like every create here. It has no attachment, so it never counts as complete content.
   */
  async createRecord(name: string, opts: { description?: string; tags?: readonly string[] } = {}): Promise<AssetInfo> {
    checkName(name);
    return this.createAsset({ name, mime: 'application/octet-stream', description: opts.description ?? 'cpd-runbook record', tags: [RUNBOOK_TAG, ...(opts.tags ?? [])] });
  }

  /**
   * Appends a revision to an asset (`POST /v2/assets/{id}/revisions`): the service numbers them
   * 1, 2, 3, … in the order it receives them, which makes an asset's revisions an append-only log.
   * Retried like an idempotent call: callers must tolerate a duplicate revision (the metadata
   * protocol does).
   */
  async createRevision(id: string, commitMessage: string): Promise<Revision> {
    const rev = await call(this.ctx, {
      method: 'POST',
      path: `/v2/assets/${encodeURIComponent(id)}/revisions`,
      query: this.query,
      body: { commit_message: commitMessage },
      schema: Revision,
      idempotent: true,
    });
    this.ctx.clock.observe(rev.created_at);
    return rev;
  }

  /** The revisions of an asset, in revision order (oldest first). */
  async revisions(id: string): Promise<Revision[]> {
    const list = await call(this.ctx, { path: `/v2/assets/${encodeURIComponent(id)}/revisions`, query: this.query, schema: RevisionList });
    for (const r of list.results) this.ctx.clock.observe(r.created_at);
    return [...list.results].sort((a, b) => a.revision_id - b.revision_id);
  }

  /** An unfinished upload old enough (server clock) to be taken as abandoned. */
  private isStale(a: AssetInfo): boolean {
    return !a.complete && Date.parse(a.createdAt) < this.ctx.clock.lowerBound() - this.ctx.staleUploadMs;
  }

  /**
   * The four steps: create the asset, create its attachment, send the bytes, complete. Any failure
   * deletes the asset made so far. An ambiguous failure of the (non-idempotent) attachment POST
   * starts over with a new asset rather than risking a second, never-completed attachment.
   */
  private async putNew(
    source: UploadSource,
    o: { name: string; mime: string; description: string; tags: string[]; onProgress?: (p: TransferProgress) => void; signal?: AbortSignal },
  ): Promise<{ asset: AssetInfo; sent: SentBytes }> {
    for (let attempt = 1; ; attempt++) {
      const created = await this.createAsset(o);
      const base = `/v2/assets/${encodeURIComponent(created.id)}/attachments`;
      let attachment: AttachmentCreateResponse;
      try {
        attachment = await call(this.ctx, {
          method: 'POST',
          path: base,
          query: this.query,
          body: { asset_type: 'data_asset', name: basename(o.name), mime: o.mime },
          schema: AttachmentCreateResponse,
        });
      } catch (err) {
        await this.deleteQuietly(created.id);
        if (!isAmbiguousFailure(err) || attempt >= 3) throw err;
        await this.ctx.sleep(100 * attempt);
        continue;
      }
      try {
        const sent = await sendBytes(this.ctx, attachment.url1, source, { mime: o.mime, fileName: basename(o.name), onProgress: o.onProgress, signal: o.signal });
        const aid = encodeURIComponent(attachment.attachment_id);
        await call(this.ctx, { method: 'POST', path: `${base}/${aid}/complete`, query: this.query, body: {}, idempotent: true, responseType: 'text' });
        o.onProgress?.({ phase: 'verify', bytes: sent.bytes, totalBytes: sent.bytes });
        const details = await call(this.ctx, { path: `${base}/${aid}`, query: this.query, schema: AttachmentDetails });
        if (details.size !== undefined && details.size !== sent.bytes) {
          throw new TransferIntegrityError(`the service holds ${details.size} bytes for "${o.name}" (${created.id}), but ${sent.bytes} were sent`);
        }
        if (details.transfer_complete === false) throw new TransferIntegrityError(`the service did not mark the upload of "${o.name}" (${created.id}) complete`);
        return { asset: await this.get(created.id), sent };
      } catch (err) {
        await this.deleteQuietly(created.id);
        throw err;
      }
    }
  }

  /** `POST /v2/assets`, made safe to repeat by a unique tag looked up after an ambiguous failure. */
  private async createAsset(o: { name: string; mime: string; description: string; tags: string[] }): Promise<AssetInfo> {
    const uploadTag = `${UPLOAD_TAG}${randomUUID()}`;
    const body = {
      metadata: { name: o.name, description: o.description, asset_type: 'data_asset', origin_country: 'us', asset_category: 'USER', tags: [...o.tags, uploadTag] },
      entity: { data_asset: { mime_type: o.mime } },
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const raw = await call(this.ctx, { method: 'POST', path: '/v2/assets', query: this.query, body, schema: Asset });
        this.ctx.clock.observe(raw.metadata.created_at);
        return assetInfo(raw);
      } catch (err) {
        if (!isAmbiguousFailure(err) || attempt >= 4) throw err;
        // Did the service create it before failing? Adopt it rather than making a twin.
        const mine = (await this.list({ name: o.name })).find((a) => a.tags.includes(uploadTag));
        if (mine) return mine;
        await this.ctx.sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  /**
   * Downloads an asset to `target` (a file path, or an existing folder to put `<asset name>` in),
   * streaming; the file appears only when complete and verified: its size against the asset's,
   * its SHA-256 against the service's ETag and the upload's recorded digest when there is one.
   */
  async download(ref: AssetRef, target: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
    const asset = await this.resolve(ref);
    const { url, size } = await this.contentUrl(asset);
    let file = resolve(target);
    const stat = await fsp.stat(file).catch(() => undefined);
    if (stat?.isDirectory()) file = join(file, basename(asset.name));
    const got = await receiveToFile(this.ctx, url, file, {
      expectedBytes: size,
      expectedSha256: asset.sha256,
      onProgress: opts.onProgress,
      signal: opts.signal,
      idleTimeoutMs: opts.idleTimeoutMs,
    });
    return { asset, file, bytes: got.bytes, sha256: got.sha256, checksumVerified: got.etagSha256 !== undefined || asset.sha256 !== undefined };
  }

  /** The bytes of a small asset, in memory (metadata documents); size and checksum verified like {@link download}. */
  async readContent(ref: AssetRef | AssetInfo): Promise<{ asset: AssetInfo; content: Buffer }> {
    const asset = 'raw' in ref ? ref : await this.resolve(ref);
    const { url, size } = await this.contentUrl(asset);
    const res = await this.ctx.http.send<Buffer>({ path: url, responseType: 'buffer' });
    const content = res.data;
    if (size !== undefined && content.length !== size) throw new TransferIntegrityError(`read ${content.length} bytes of "${asset.name}" (${asset.id}), but it holds ${size}`);
    const etag = /^(?:W\/)?"?([0-9a-f]{64})"?$/i.exec(String(res.headers.etag ?? ''))?.[1]?.toLowerCase();
    const sha = createHash('sha256').update(content).digest('hex');
    if ((etag && etag !== sha) || (asset.sha256 && asset.sha256 !== sha)) {
      throw new TransferIntegrityError(`the content of "${asset.name}" (${asset.id}) does not match its recorded SHA-256`);
    }
    return { asset, content };
  }

  /** Where to GET an asset's bytes: its first complete attachment's signed URL. */
  private async contentUrl(asset: AssetInfo): Promise<{ url: string; size?: number }> {
    const attachment = (asset.raw.attachments ?? []).find((a) => a.transfer_complete !== false);
    if (!asset.complete || !attachment) {
      throw new AssetNotFoundError(`complete content for data asset "${asset.name}" (${asset.id}): its upload is unfinished or was abandoned`, this.where);
    }
    const details = await call(this.ctx, {
      path: `/v2/assets/${encodeURIComponent(asset.id)}/attachments/${encodeURIComponent(attachment.id)}`,
      query: this.query,
      schema: AttachmentDetails,
    });
    if (details.url) return { url: details.url, size: details.size ?? attachment.size };
    const key = details.handle?.key ?? attachment.handle?.key;
    if (!key) throw new RemoteApiError({ method: 'GET', url: `/v2/assets/${asset.id}/attachments/${attachment.id}`, status: 200, codes: [], messages: ['the attachment has neither a url nor a handle key'] });
    return { url: this.ctx.http.url(`/v2/asset_files/${key.split('/').map(encodeURIComponent).join('/')}`, this.query), size: details.size ?? attachment.size };
  }
}
