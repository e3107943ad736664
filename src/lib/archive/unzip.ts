/**
 * Safe zip extraction (yauzl), the counterpart of zip.ts: a folder zipped into a data asset (the
 * runbook's `<folder>.zip`) comes back as the folder. Same rules as the tar extraction: entries are
 * written to a temporary sibling renamed to the destination only when the whole archive was valid.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, promises as fsp, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as yauzl from 'yauzl';
import { ValidationError } from '../errors';
import { safeRelativePath } from './safe-path';

/** Options of {@link extractZipSafely}. */
export interface UnzipOptions {
  /** Most entries accepted (default 100 000). */
  readonly maxEntries?: number;
  /** Most bytes of file content accepted, summed over entries (default 20 GiB). */
  readonly maxBytes?: number;
}

/** What {@link extractZipSafely} wrote. */
export interface UnzipResult {
  readonly files: number;
  readonly directories: number;
  readonly bytes: number;
  /** The archive's top-level names (one folder for a `zip -r name.zip name` archive). */
  readonly topLevel: readonly string[];
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((res, rej) => yauzl.open(file, { lazyEntries: true, autoClose: true, strictFileNames: false, validateEntrySizes: true }, (err, zip) => (err || !zip ? rej(err) : res(zip))));
}

function entryStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((res, rej) => zip.openReadStream(entry, (err, stream) => (err || !stream ? rej(err) : res(stream))));
}

/** True when the entry's Unix mode (upper 16 bits of the external attributes) says symbolic link. */
function isSymlink(entry: yauzl.Entry): boolean {
  return ((entry.externalFileAttributes >>> 16) & 0o170000) === 0o120000;
}

/**
 * Extracts a zip file into `destDir`, which must not exist or be an empty folder. Rejected with a
 * ValidationError naming the entry: absolute paths, `..` segments, backslashes, control characters,
 * symbolic links, encrypted entries, an entry given twice, more than `maxEntries` entries or
 * `maxBytes` bytes; a corrupt archive is a ValidationError too. On any error nothing is left.
 */
export async function extractZipSafely(zipFile: string, destDir: string, options: UnzipOptions = {}): Promise<UnzipResult> {
  const maxEntries = options.maxEntries ?? 100_000;
  const maxBytes = options.maxBytes ?? 20 * 1024 ** 3;
  const dest = resolve(destDir);
  let existing: ReturnType<typeof statSync> | undefined;
  try {
    existing = statSync(dest);
  } catch {
    existing = undefined;
  }
  if (existing && (!existing.isDirectory() || readdirSync(dest).length > 0)) {
    throw new ValidationError(`${dest} must not exist or be an empty folder to extract into`, [{ path: dest, message: 'not empty' }]);
  }
  mkdirSync(dirname(dest), { recursive: true });
  const work = join(dirname(dest), `.${basename(dest)}.unzip-${randomBytes(4).toString('hex')}`);
  mkdirSync(work);
  const where = `${zipFile}`;
  const result = { files: 0, directories: 0, bytes: 0, topLevel: new Set<string>() };
  const seen = new Set<string>();
  try {
    let zip: yauzl.ZipFile;
    try {
      zip = await openZip(zipFile);
    } catch (err) {
      throw new ValidationError(`${where}: not a readable zip archive (${(err as Error).message})`, [{ path: where, message: 'corrupt zip' }]);
    }
    await new Promise<void>((res, rej) => {
      let count = 0;
      const fail = (err: unknown) => {
        zip.close();
        rej(err instanceof ValidationError ? err : new ValidationError(`${where}: ${(err as Error).message}`, [{ path: where, message: 'corrupt zip' }]));
      };
      zip.on('error', fail);
      zip.on('end', () => res());
      zip.on('entry', (entry: yauzl.Entry) => {
        void (async () => {
          if (++count > maxEntries) throw new ValidationError(`${where}: more than ${maxEntries} entries`, [{ path: where, message: 'too many entries' }]);
          const isDir = entry.fileName.endsWith('/');
          const rel = safeRelativePath(isDir ? entry.fileName.slice(0, -1) : entry.fileName, `${where} entry`);
          if (isSymlink(entry)) throw new ValidationError(`${where} entry ${JSON.stringify(entry.fileName)} is a symbolic link: links are not extracted`, [{ path: entry.fileName, message: 'symbolic link' }]);
          if ((entry.generalPurposeBitFlag & 0x1) !== 0) throw new ValidationError(`${where} entry ${JSON.stringify(entry.fileName)} is encrypted`, [{ path: entry.fileName, message: 'encrypted' }]);
          if (seen.has(rel)) throw new ValidationError(`${where} entry ${JSON.stringify(rel)} appears twice`, [{ path: rel, message: 'duplicate entry' }]);
          seen.add(rel);
          result.topLevel.add(rel.split('/')[0]!);
          const target = join(work, ...rel.split('/'));
          if (isDir) {
            mkdirSync(target, { recursive: true });
            result.directories++;
          } else {
            result.bytes += entry.uncompressedSize;
            if (result.bytes > maxBytes) throw new ValidationError(`${where}: more than ${maxBytes} bytes of content`, [{ path: where, message: 'too large' }]);
            mkdirSync(dirname(target), { recursive: true });
            await pipeline(await entryStream(zip, entry), createWriteStream(target, { flags: 'wx' }));
            result.files++;
          }
          zip.readEntry();
        })().catch(fail);
      });
      zip.readEntry();
    });
    if (existing) rmSync(dest, { recursive: true, force: true });
    await fsp.rename(work, dest);
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  return { files: result.files, directories: result.directories, bytes: result.bytes, topLevel: [...result.topLevel].sort() };
}
