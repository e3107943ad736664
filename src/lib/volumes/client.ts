/**
 * CPD storage volumes ("zen-volumes", predecessor-runbook.md §2.6) through the profile's `cpd`
 * client: list with details, upload files and folders, download files (streamed, written
 * atomically) and folders, delete. Paths are volume-relative (`DeepLIIF_Datasets/model_eval`); the
 * empty path is the volume root. Unlike the predecessor, options never leak between calls, a
 * missing folder is an error naming it, and times are real Dates (no naive local-clock parsing).
 */
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { safeRelativePath } from '../archive/safe-path';
import { DirectoryListingResponse, parseLastModified, VOLUME_UPLOAD_FIELD, VolumeWriteResponse } from '../contracts/volumes';
import { ValidationError } from '../errors';
import { RemoteApiError } from '../http/errors';
import type { HttpClient } from '../http/client';
import { formBody } from '../http/form-body';
import type { MutationOptions } from '../plan';
import { mapLimit } from '../util/map-limit';

/** One entry of a listing. `path` is relative to the listed folder, with `/` separators. */
export interface VolumeEntry {
  readonly path: string;
  readonly type: 'file' | 'directory';
  /** Bytes (0 for folders). */
  readonly size: number;
  readonly mtime: Date;
  /** Files only, e.g. `.png` ('' when the name has none). */
  readonly extension?: string;
}

/** Options of {@link listVolume}. */
export interface ListOptions {
  /** Descend into sub-folders (default true). */
  readonly recursive?: boolean;
  /** Leave folders out (default false: folders are listed too, as the API does). */
  readonly filesOnly?: boolean;
  readonly signal?: AbortSignal;
}

/** Default number of files moved at once by folder uploads and downloads. */
export const DEFAULT_TRANSFER_CONCURRENCY = 4;

/** The volume-relative form of `path` ('' for the root), or a ValidationError for `..` and the like. */
export function volumePath(path: string, what = 'volume path'): string {
  const trimmed = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '' || trimmed === '.') return '';
  return safeRelativePath(trimmed, what);
}

function encoded(path: string): string {
  // The API takes the whole path as one segment (`/` → `%2F`); the root is `/`.
  return encodeURIComponent(path === '' ? '/' : path);
}

function volumeBase(volume: string): string {
  if (volume.trim() === '') throw new ValidationError('storage volume: the display name is empty', [{ path: 'volume', message: 'expected a volume display name' }]);
  return `/zen-volumes/${encodeURIComponent(volume)}/v1/volumes`;
}

const shown = (volume: string, path: string) => `${volume}:${path === '' ? '/' : path}`;

/**
 * The entries under `folder` of `volume` (recursive by default). A folder that does not exist (or is
 * a file) is a {@link ValidationError} naming it.
 */
export async function listVolume(cpd: HttpClient, volume: string, folder = '', options: ListOptions = {}): Promise<VolumeEntry[]> {
  const path = volumePath(folder, 'folder');
  const res = await cpd.send({
    path: `${volumeBase(volume)}/directories/${encoded(path)}`,
    query: { include_details: 'true', recursive: options.recursive === false ? 'false' : 'true' },
    schema: DirectoryListingResponse,
    allowStatus: [404],
    signal: options.signal,
  });
  if (res.status === 404) {
    throw new ValidationError(`folder ${shown(volume, path)} does not exist (or is a file, or the storage volume "${volume}" does not exist)`, [
      { path: shown(volume, path), message: 'not found' },
    ]);
  }
  const contents = (res.data as DirectoryListingResponse).responseObject.directoryContents;
  const out: VolumeEntry[] = [];
  for (const item of contents) {
    if (typeof item === 'string') {
      throw new ValidationError(`listing of ${shown(volume, path)} came without details although include_details=true was asked for`, [{ path: shown(volume, path), message: 'no details' }]);
    }
    const ms = parseLastModified(item.last_modified);
    if (!Number.isFinite(ms)) {
      throw new ValidationError(`listing of ${shown(volume, path)}: ${item.path} has an unreadable last_modified ${JSON.stringify(item.last_modified)} (expected RFC 1123 GMT)`, [
        { path: item.path, message: 'unreadable last_modified' },
      ]);
    }
    if (options.filesOnly && item.type !== 'file') continue;
    const entry: { -readonly [K in keyof VolumeEntry]: VolumeEntry[K] } = { path: item.path.replace(/^\/+/, ''), type: item.type, size: item.content_length, mtime: new Date(ms) };
    if (item.type === 'file') entry.extension = item.file_extension ?? '';
    out.push(entry);
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The entry of `path` (found by listing its parent), or undefined when it does not exist. The root is a directory. */
export async function statVolumePath(cpd: HttpClient, volume: string, path: string, options: { signal?: AbortSignal } = {}): Promise<VolumeEntry | undefined> {
  const p = volumePath(path);
  if (p === '') return { path: '', type: 'directory', size: 0, mtime: new Date(0) };
  const cut = p.lastIndexOf('/');
  const parent = cut < 0 ? '' : p.slice(0, cut);
  const name = p.slice(cut + 1);
  let entries: VolumeEntry[];
  try {
    entries = await listVolume(cpd, volume, parent, { recursive: false, signal: options.signal });
  } catch (err) {
    if (err instanceof ValidationError && err.issues[0]?.message === 'not found') return undefined;
    throw err;
  }
  const hit = entries.find((e) => e.path === name);
  return hit ? { ...hit, path: p } : undefined;
}

/** Reported per file by uploads and downloads. */
export interface TransferProgress {
  /** The volume-relative path. */
  readonly path: string;
  readonly bytes: number;
  readonly totalBytes?: number;
  /** True on the last report of this file. */
  readonly done: boolean;
}

/** Options of uploads. */
export interface UploadOptions extends MutationOptions {
  /** Files sent at once for a folder (default {@link DEFAULT_TRANSFER_CONCURRENCY}). */
  readonly concurrency?: number;
  /** Called per file when it starts and when it is sent (`done`); files of a folder report interleaved. */
  readonly onProgress?: (p: TransferProgress) => void;
  readonly signal?: AbortSignal;
}

/** What an upload or download moved. */
export interface TransferResult {
  readonly files: readonly { readonly local: string; readonly remote: string; readonly bytes: number }[];
  readonly bytes: number;
  /** True when nothing was moved because a plan recorded it. */
  readonly planned: boolean;
}

async function localFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await fsp.readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const r = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await localFiles(dir, r)));
    else if (entry.isFile()) out.push(r);
  }
  return out;
}

async function putFile(cpd: HttpClient, volume: string, local: string, remote: string, size: number, options: UploadOptions): Promise<void> {
  const body = formBody([{ name: VOLUME_UPLOAD_FIELD, filename: basename(remote), file: local, size }]);
  options.onProgress?.({ path: remote, bytes: 0, totalBytes: size, done: false });
  await cpd.request({
    method: 'PUT',
    path: `${volumeBase(volume)}/files/${encoded(remote)}`,
    body: body.body,
    headers: { 'content-type': body.contentType },
    contentLength: body.contentLength,
    schema: VolumeWriteResponse,
    signal: options.signal,
  });
  options.onProgress?.({ path: remote, bytes: size, totalBytes: size, done: true });
}

/**
 * Uploads a local file to `remotePath`, or a local folder's files (recursively) below `remotePath`
 * keeping their relative paths. Each file replaces its target atomically on the server; parent
 * folders are created. A plan records one upload per file instead.
 */
export async function uploadToVolume(cpd: HttpClient, volume: string, localPath: string, remotePath: string, options: UploadOptions = {}): Promise<TransferResult> {
  const remote = volumePath(remotePath, 'target path');
  let stat;
  try {
    stat = await fsp.stat(localPath);
  } catch {
    throw new ValidationError(`upload: ${localPath} does not exist`, [{ path: localPath, message: 'not found' }]);
  }
  let pairs: { local: string; remote: string; bytes: number }[];
  if (stat.isDirectory()) {
    const rels = await localFiles(localPath);
    pairs = await Promise.all(
      rels.map(async (rel) => ({ local: join(localPath, rel), remote: remote === '' ? rel : `${remote}/${rel}`, bytes: (await fsp.stat(join(localPath, rel))).size })),
    );
  } else if (stat.isFile()) {
    if (remote === '') throw new ValidationError('upload: name the target file (the volume root is a folder)', [{ path: 'target path', message: 'expected a file path' }]);
    pairs = [{ local: localPath, remote, bytes: stat.size }];
  } else {
    throw new ValidationError(`upload: ${localPath} is neither a file nor a folder`, [{ path: localPath, message: 'not a file or folder' }]);
  }
  const bytes = pairs.reduce((n, p) => n + p.bytes, 0);
  if (options.plan) {
    for (const p of pairs) options.plan.record({ service: 'volumes', action: 'upload', resource: 'file', target: shown(volume, p.remote), detail: `${p.bytes} bytes from ${p.local}` });
    return { files: pairs, bytes, planned: true };
  }
  await mapLimit(pairs, options.concurrency ?? DEFAULT_TRANSFER_CONCURRENCY, (p) => putFile(cpd, volume, p.local, p.remote, p.bytes, options));
  return { files: pairs, bytes, planned: false };
}

/** Options of downloads. */
export interface DownloadOptions {
  readonly concurrency?: number;
  /** Called per file as bytes arrive and once more when it is complete (`done`). */
  readonly onProgress?: (p: TransferProgress) => void;
  readonly signal?: AbortSignal;
}

/**
 * Streams one file of the volume to `localFile`, which appears only when complete (temporary
 * sibling, then rename). A missing file is a ValidationError naming it.
 */
export async function downloadVolumeFile(cpd: HttpClient, volume: string, remotePath: string, localFile: string, options: DownloadOptions = {}): Promise<number> {
  const remote = volumePath(remotePath, 'file');
  if (remote === '') throw new ValidationError('download: name a file (the volume root is a folder)', [{ path: 'file', message: 'expected a file path' }]);
  try {
    const { bytes } = await cpd.downloadToFile({
      path: `${volumeBase(volume)}/files/${encoded(remote)}`,
      file: localFile,
      signal: options.signal,
      onProgress: options.onProgress ? (b, total) => options.onProgress!({ path: remote, bytes: b, totalBytes: total, done: false }) : undefined,
    });
    options.onProgress?.({ path: remote, bytes, totalBytes: bytes, done: true });
    return bytes;
  } catch (err) {
    if (err instanceof RemoteApiError && err.status === 404) {
      throw new ValidationError(`file ${shown(volume, remote)} does not exist`, [{ path: shown(volume, remote), message: 'not found' }]);
    }
    throw err;
  }
}

/**
 * Downloads a file to `localPath`, or a folder's files (recursively, relative paths kept) below
 * the local folder `localPath`. Each file is written atomically; remote names that would escape
 * the local folder are refused.
 */
export async function downloadFromVolume(cpd: HttpClient, volume: string, remotePath: string, localPath: string, options: DownloadOptions = {}): Promise<TransferResult> {
  const remote = volumePath(remotePath);
  const entry = await statVolumePath(cpd, volume, remote, options);
  if (!entry) throw new ValidationError(`${shown(volume, remote)} does not exist`, [{ path: shown(volume, remote), message: 'not found' }]);
  if (entry.type === 'file') {
    const bytes = await downloadVolumeFile(cpd, volume, remote, localPath, options);
    return { files: [{ local: localPath, remote, bytes }], bytes, planned: false };
  }
  const entries = await listVolume(cpd, volume, remote, { filesOnly: true, signal: options.signal });
  const jobs = entries.map((e) => ({ remote: remote === '' ? e.path : `${remote}/${e.path}`, local: join(localPath, safeRelativePath(e.path, `listed path in ${shown(volume, remote)}`)) }));
  await fsp.mkdir(localPath, { recursive: true });
  const sizes = await mapLimit(jobs, options.concurrency ?? DEFAULT_TRANSFER_CONCURRENCY, (j) => downloadVolumeFile(cpd, volume, j.remote, j.local, options));
  const files = jobs.map((j, i) => ({ ...j, bytes: sizes[i] as number }));
  return { files, bytes: sizes.reduce((n, b) => n + b, 0), planned: false };
}

/** Options of {@link deleteFromVolume}. */
export interface DeleteOptions extends MutationOptions {
  /** Needed to delete a folder with its contents. */
  readonly recursive?: boolean;
  /** A missing path is not an error (default false). */
  readonly missingOk?: boolean;
}

/** Deletes a file, or a folder with `recursive`. Returns false when it did not exist (with `missingOk`). */
export async function deleteFromVolume(cpd: HttpClient, volume: string, remotePath: string, options: DeleteOptions = {}): Promise<boolean> {
  const remote = volumePath(remotePath);
  if (remote === '') throw new ValidationError('delete: the volume root cannot be deleted', [{ path: 'path', message: 'expected a file or folder below the root' }]);
  if (options.plan) {
    const entry = await statVolumePath(cpd, volume, remote);
    if (!entry) {
      if (options.missingOk) return false;
      throw new ValidationError(`${shown(volume, remote)} does not exist`, [{ path: shown(volume, remote), message: 'not found' }]);
    }
    options.plan.record({ service: 'volumes', action: 'delete', resource: entry.type, target: shown(volume, remote), detail: entry.type === 'directory' ? 'with its contents' : `${entry.size} bytes` });
    return true;
  }
  const res = await cpd.send({
    method: 'DELETE',
    path: `${volumeBase(volume)}/files/${encoded(remote)}`,
    query: { recursive: options.recursive ? 'true' : undefined },
    allowStatus: [404],
  });
  if (res.status === 404) {
    if (options.missingOk) return false;
    throw new ValidationError(`${shown(volume, remote)} does not exist`, [{ path: shown(volume, remote), message: 'not found' }]);
  }
  return true;
}
