/**
 * tar and tar.gz: safe extraction and streamed creation (node-tar). Not named `tar.ts`: under tslab a
 * module's bare `require('tar')` resolves to a sibling file `tar.ts` first (the module itself).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, lstatSync, mkdirSync, promises as fsp, readdirSync, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Parser, create as tarCreate, type ReadEntry } from 'tar';
import { ValidationError } from '../errors';
import { safeRelativePath } from './safe-path';

/** Limits of {@link extractTarSafely}: an archive over either is refused (ValidationError) rather than filling the disk. */
export interface ExtractOptions {
  /** Most entries accepted (default 100 000). */
  maxEntries?: number;
  /** Most bytes of file content accepted, summed over entries (default 20 GiB). */
  maxBytes?: number;
}

/** What {@link extractTarSafely} wrote: entries by kind (symbolic and hard links together) and file bytes. */
export interface ExtractResult {
  files: number;
  directories: number;
  links: number;
  bytes: number;
}

function inside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Extracts a tar or tar.gz (detected) into `destDir`, which must not exist or be empty. Entries are
 * written to a temporary sibling that is renamed to `destDir` only when the whole archive was valid:
 * on any error nothing is left. Rejected (ValidationError naming the entry): absolute paths, `..`
 * segments, NUL/control characters, backslashes, device/FIFO entries, more than `maxEntries` entries or
 * `maxBytes` bytes, and symbolic or hard links whose target is outside the destination (or missing).
 * Links are created after every file is written, so no file is ever written through a link.
 */
export async function extractTarSafely(source: string | Readable, destDir: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const maxEntries = options.maxEntries ?? 100_000;
  const maxBytes = options.maxBytes ?? 20 * 1024 ** 3;
  const dest = resolve(destDir);
  const existing = lstatOrUndefined(dest);
  if (existing && (!existing.isDirectory() || readdirSync(dest).length > 0)) {
    throw new ValidationError(`${dest} must not exist or be an empty directory to extract into`);
  }
  mkdirSync(dirname(dest), { recursive: true });
  const work = join(dirname(dest), `.${basename(dest)}.extract-${randomBytes(4).toString('hex')}`);
  mkdirSync(work);
  const root = realpathSync(work);
  const result: ExtractResult = { files: 0, directories: 0, links: 0, bytes: 0 };
  const writes: Promise<void>[] = [];
  const hardLinks: { path: string; target: string }[] = [];
  const symLinks: { path: string; target: string }[] = [];
  let entries = 0;
  let failure: Error | undefined;

  const parser = new Parser({ strict: true });
  const input = typeof source === 'string' ? createReadStream(source) : source;
  const fail = (err: Error): void => {
    if (!failure) failure = err;
    parser.abort(err);
  };

  parser.on('entry', (entry: ReadEntry) => {
    if (failure) {
      entry.resume();
      return;
    }
    try {
      entries++;
      if (entry.type === 'Directory' && /^(\.\/?)+$/.test(entry.path)) {
        entry.resume(); // the archive's own root (`tar -C dir .`)
        return;
      }
      if (entries > maxEntries) throw new ValidationError(`the archive has more than ${maxEntries} entries`);
      const rel = safeRelativePath(entry.path, 'archive entry');
      const target = join(root, rel);
      switch (entry.type) {
        case 'File':
        case 'OldFile':
        case 'ContiguousFile': {
          result.bytes += entry.size;
          if (result.bytes > maxBytes) throw new ValidationError(`the archive holds more than ${maxBytes} bytes (at entry ${JSON.stringify(entry.path)})`);
          mkdirSync(dirname(target), { recursive: true });
          const kind = lstatOrUndefined(target);
          if (kind?.isDirectory()) throw new ValidationError(`archive entry ${JSON.stringify(entry.path)} is a file where a directory was`);
          result.files++;
          const mode = ((entry.mode ?? 0o644) & 0o777) | 0o600;
          writes.push(pipeline(entry, createWriteStream(target, { mode })));
          return;
        }
        case 'Directory':
          mkdirSync(target, { recursive: true });
          result.directories++;
          entry.resume();
          return;
        case 'SymbolicLink': {
          const link = entry.linkpath ?? '';
          if (link === '' || link.includes('\0') || posix.isAbsolute(link) || /^[A-Za-z]:/.test(link) || link.includes('\\')) {
            throw new ValidationError(`archive entry ${JSON.stringify(entry.path)} is a symbolic link to ${JSON.stringify(link)}, outside the destination`);
          }
          if (posix.normalize(posix.join(posix.dirname(rel), link)).startsWith('..')) {
            throw new ValidationError(`archive entry ${JSON.stringify(entry.path)} is a symbolic link to ${JSON.stringify(link)}, outside the destination`);
          }
          symLinks.push({ path: rel, target: link });
          entry.resume();
          return;
        }
        case 'Link': {
          const linkTarget = safeRelativePath(entry.linkpath ?? '', `hard link target of ${JSON.stringify(entry.path)}`);
          hardLinks.push({ path: rel, target: linkTarget });
          entry.resume();
          return;
        }
        default:
          throw new ValidationError(`archive entry ${JSON.stringify(entry.path)} has the unsupported type ${entry.type}`);
      }
    } catch (err) {
      entry.resume();
      fail(err as Error);
    }
  });

  try {
    await new Promise<void>((resolvePromise, reject) => {
      parser.on('error', (err: Error) => reject(failure ?? new ValidationError(`not a valid tar archive: ${err.message}`)));
      parser.on('abort', () => reject(failure ?? new ValidationError('the archive could not be read')));
      parser.on('end', () => resolvePromise());
      input.on('error', reject);
      input.pipe(parser);
    });
    if (failure) throw failure;
    await Promise.all(writes);
    if (entries === 0) throw new ValidationError('the archive is empty');
    for (const { path, target } of hardLinks) {
      const from = join(root, target);
      const kind = lstatOrUndefined(from);
      if (!kind || !kind.isFile()) throw new ValidationError(`hard link ${JSON.stringify(path)} points to ${JSON.stringify(target)}, which is not a file of the archive`);
      const at = join(root, path);
      mkdirSync(dirname(at), { recursive: true });
      if (!inside(root, realpathSync(dirname(at)))) throw new ValidationError(`hard link ${JSON.stringify(path)} would be written outside the destination`);
      await fsp.rm(at, { force: true });
      await fsp.link(from, at);
      result.links++;
    }
    for (const { path, target } of symLinks) {
      const at = join(root, path);
      mkdirSync(dirname(at), { recursive: true });
      const parent = realpathSync(dirname(at));
      if (!inside(root, parent) || !inside(root, resolve(parent, target))) {
        throw new ValidationError(`archive entry ${JSON.stringify(path)} is a symbolic link to ${JSON.stringify(target)}, outside the destination`);
      }
      await fsp.rm(at, { force: true, recursive: false }).catch(() => undefined);
      await fsp.symlink(target, at);
      result.links++;
    }
    // Links resolved through other links (a -> ., b -> a/../x) can still point out: check the real targets.
    for (const { path, target } of symLinks) {
      let real: string;
      try {
        real = realpathSync(join(root, path));
      } catch {
        throw new ValidationError(`archive entry ${JSON.stringify(path)} is a symbolic link to ${JSON.stringify(target)}, which does not exist in the archive`);
      }
      if (!inside(root, real)) throw new ValidationError(`archive entry ${JSON.stringify(path)} is a symbolic link to ${JSON.stringify(target)}, outside the destination`);
    }
    if (existing) await fsp.rmdir(dest);
    await fsp.rename(work, dest);
    return result;
  } catch (err) {
    input.unpipe?.(parser);
    if (typeof (input as Readable).destroy === 'function' && typeof source === 'string') (input as Readable).destroy();
    await Promise.allSettled(writes);
    await fsp.rm(work, { recursive: true, force: true });
    throw err;
  }
}

/** Options of {@link createTarGz} and {@link writeTarGz}. */
export interface CreateTarOptions {
  /** Put the folder itself at the top of the archive (`<name>/…`) instead of its contents. */
  includeFolder?: boolean;
  /** gzip the archive (default true). */
  gzip?: boolean;
}

/** A (gzipped) tar stream of `srcDir`, streamed (memory flat); symlinks are stored as links. */
export function createTarGz(srcDir: string, options: CreateTarOptions = {}): Readable {
  const dir = resolve(srcDir);
  const cwd = options.includeFolder ? dirname(dir) : dir;
  const entries = options.includeFolder ? [basename(dir)] : readdirSync(dir).sort();
  const out = new PassThrough();
  if (entries.length === 0) {
    process.nextTick(() => out.destroy(new ValidationError(`${dir} is empty: nothing to archive`)));
    return out;
  }
  const pack = tarCreate({ gzip: options.gzip ?? true, cwd, portable: true }, entries) as unknown as Readable;
  pack.on('error', (err: Error) => out.destroy(err));
  return pack.pipe(out);
}

/** Writes a tar.gz of `srcDir` to `file` atomically (temp + fsync + rename). */
export async function writeTarGz(srcDir: string, file: string, options: CreateTarOptions = {}): Promise<{ size: number }> {
  const target = resolve(file);
  const tmp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await pipeline(createTarGz(srcDir, options), createWriteStream(tmp));
    const handle = await fsp.open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  return { size: (await fsp.stat(target)).size };
}

