import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { zipFolder } from '../archive/zip';
import { ValidationError } from '../errors';

/**
 * What an upload reads: a file (streamed from disk), a folder (zipped on the fly by yazl, the
 * archive holding the folder itself at its top like the predecessor's `zip -r`), or bytes in memory.
 * `open()` gives a fresh stream each time, so a failed transfer can be retried from the start.
 */
export interface UploadSource {
  readonly kind: 'file' | 'folder' | 'bytes';
  /** The asset name used when none is given: the file name, or the folder name + `.zip`. */
  readonly defaultName: string;
  /** For messages: the local path, or `(content)`. */
  readonly where: string;
  /** The exact number of bytes `open()` yields, when known before reading (files and bytes; not zips). */
  readonly size?: number;
  /** A new stream of the bytes to upload. */
  open(): Readable;
  /**
   * A SHA-256 fingerprint of the content, recorded on the asset so that `skipIfUnchanged` can
   * recognise the same content later. Files and bytes: the SHA-256 of the bytes. Folders: the
   * SHA-256 of a `sha256sum`-style manifest (one `<sha256>  <size>  <path>` line per file, sorted,
   * plus the archive options), so it does not depend on modification times.
   */
  fingerprint(onBytes?: (bytes: number) => void): Promise<string>;
}

/** Options of folder sources. */
export interface FolderSourceOptions {
  /** Deflate the zip entries (default true, like `zip -r`); false stores them, faster for already-compressed model weights. */
  readonly compress?: boolean;
}

const CHUNK = 1024 * 1024;

async function hashStream(stream: Readable, hash: ReturnType<typeof createHash>, onBytes?: (n: number) => void): Promise<number> {
  let n = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    n += (chunk as Buffer).length;
    onBytes?.((chunk as Buffer).length);
  }
  return n;
}

/** Files and empty folders below `dir`, sorted by name, as `/`-separated paths; symlinks skipped (as zipFolder does). */
async function walk(dir: string, prefix: string, out: { real: string; name: string; dir: boolean }[]): Promise<void> {
  const entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (entries.length === 0 && prefix !== '') out.push({ real: dir, name: prefix.replace(/\/$/, ''), dir: true });
  for (const e of entries) {
    const real = join(dir, e.name);
    if (e.isDirectory()) await walk(real, `${prefix}${e.name}/`, out);
    else if (e.isFile()) out.push({ real, name: `${prefix}${e.name}`, dir: false });
  }
}

/** The upload source of a local file or folder; a ValidationError names the path when it is neither. */
export async function pathSource(path: string, opts: FolderSourceOptions = {}): Promise<UploadSource> {
  const full = resolve(path);
  const stat = await fsp.stat(full).catch(() => undefined);
  if (!stat) throw new ValidationError(`${full} does not exist: give a file or a folder to upload`, [{ path: 'path', message: 'no such file or folder' }]);
  if (stat.isFile()) {
    return {
      kind: 'file',
      defaultName: basename(full),
      where: full,
      size: stat.size,
      open: () => createReadStream(full, { highWaterMark: CHUNK }),
      fingerprint: async (onBytes) => {
        const hash = createHash('sha256');
        await hashStream(createReadStream(full, { highWaterMark: CHUNK }), hash, onBytes);
        return hash.digest('hex');
      },
    };
  }
  if (stat.isDirectory()) {
    const compress = opts.compress ?? true;
    return {
      kind: 'folder',
      defaultName: `${basename(full)}.zip`,
      where: full,
      open: () => zipFolder(full, { includeFolder: true, compress }),
      fingerprint: async (onBytes) => {
        const items: { real: string; name: string; dir: boolean }[] = [];
        await walk(full, `${basename(full)}/`, items);
        const manifest = createHash('sha256');
        manifest.update(`cpd-runbook folder zip v1 compress=${compress}\n`);
        for (const item of items) {
          if (item.dir) {
            manifest.update(`dir  ${item.name}\n`);
            continue;
          }
          const h = createHash('sha256');
          const size = await hashStream(createReadStream(item.real, { highWaterMark: CHUNK }), h, onBytes);
          manifest.update(`${h.digest('hex')}  ${size}  ${item.name}\n`);
        }
        return manifest.digest('hex');
      },
    };
  }
  throw new ValidationError(`${full} is neither a file nor a folder`, [{ path: 'path', message: 'not a regular file or folder' }]);
}

/** The upload source of content held in memory (metadata documents, small files). */
export function bytesSource(name: string, content: string | Uint8Array): UploadSource {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  const sha = createHash('sha256').update(bytes).digest('hex');
  return {
    kind: 'bytes',
    defaultName: name,
    where: '(content)',
    size: bytes.length,
    open: () => Readable.from([bytes], { objectMode: false }),
    fingerprint: async () => sha,
  };
}
