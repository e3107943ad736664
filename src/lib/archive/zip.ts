import { promises as fsp } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import { ValidationError } from '../errors';

/** Files and empty folders below `dir`, sorted, as archive paths (`/`-separated). Symlinks are skipped. */
async function walk(dir: string, prefix: string, out: { real: string; name: string; dir: boolean }[]): Promise<void> {
  const entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (entries.length === 0 && prefix !== '') out.push({ real: dir, name: prefix.replace(/\/$/, ''), dir: true });
  for (const entry of entries) {
    const real = join(dir, entry.name);
    const name = `${prefix}${entry.name}`;
    if (entry.isDirectory()) await walk(real, `${name}/`, out);
    else if (entry.isFile()) out.push({ real, name, dir: false });
    // Symlinks, sockets and devices are left out: a link could expose files outside the folder.
  }
}

/** Options of {@link zipFolder}. */
export interface ZipFolderOptions {
  /** Put the folder itself at the top of the archive (`<name>/…`) instead of its contents. */
  includeFolder?: boolean;
  /** Deflate (default true); false stores entries as they are (faster for already-compressed data). */
  compress?: boolean;
}

/**
 * A zip stream of a folder, built with yazl: files are read one at a time while the zip is consumed,
 * so memory stays flat whatever the folder's size. Regular files and empty folders only.
 * The stream errors (ValidationError) when `dir` is not a folder.
 */
export function zipFolder(dir: string, options: ZipFolderOptions = {}): Readable {
  const root = resolve(dir);
  const out = new PassThrough();
  void (async () => {
    const stat = await fsp.stat(root).catch(() => undefined);
    if (!stat || !stat.isDirectory()) throw new ValidationError(`${root} is not a folder`);
    const items: { real: string; name: string; dir: boolean }[] = [];
    await walk(root, options.includeFolder ? `${basename(root)}/` : '', items);
    const zip = new ZipFile();
    zip.on('error', (err: Error) => out.destroy(err));
    zip.outputStream.on('error', (err: Error) => out.destroy(err));
    zip.outputStream.pipe(out);
    for (const item of items) {
      if (item.dir) zip.addEmptyDirectory(item.name);
      else zip.addFile(item.real, item.name, { compress: options.compress ?? true });
    }
    zip.end();
  })().catch((err: Error) => out.destroy(err));
  return out;
}
