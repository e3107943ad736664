/**
 * Local file work shared by the training submission folder and the EDI deployment package: glob
 * expansion without a shell, copying files and folders (links followed, so nothing in the result
 * points outside it), a content fingerprint that ignores modification times, short listings for
 * error messages, and the place a prepared folder goes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp, type Stats } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, resolve, sep } from 'node:path';
import { ValidationError } from '../errors';

/** True when a path holds a glob character (`*`, `?`, `[`). */
export function hasGlob(path: string): boolean {
  return /[*?[]/.test(path);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regular expression for one path segment of a glob: `*`, `?`, `[abc]`, `[!abc]`. */
function segmentPattern(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRegExp(c);
  }
  return new RegExp(`^${re}$`);
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await fsp.stat(path);
  } catch {
    return undefined;
  }
}

async function expandFrom(base: string, segments: readonly string[]): Promise<string[]> {
  if (segments.length === 0) return [base];
  const [segment, ...rest] = segments as [string, ...string[]];
  if (segment === '**') {
    // Zero or more folders (hidden ones excluded, as a shell's globstar does).
    const out = await expandFrom(base, rest);
    for (const entry of await fsp.readdir(base, { withFileTypes: true }).catch(() => [])) {
      if (entry.name.startsWith('.')) continue;
      const full = join(base, entry.name);
      if ((await statOrUndefined(full))?.isDirectory()) out.push(...(await expandFrom(full, segments)));
    }
    return out;
  }
  if (!hasGlob(segment)) {
    const full = join(base, segment);
    return (await statOrUndefined(full)) ? expandFrom(full, rest) : [];
  }
  const pattern = segmentPattern(segment);
  const out: string[] = [];
  const names = (await fsp.readdir(base).catch(() => [] as string[])).sort();
  for (const name of names) {
    // As in a shell, `*` does not match hidden names unless the pattern itself starts with a dot.
    if (name.startsWith('.') && !segment.startsWith('.')) continue;
    if (!pattern.test(name)) continue;
    const full = join(base, name);
    if (rest.length > 0 && !(await statOrUndefined(full))?.isDirectory()) continue;
    out.push(...(await expandFrom(full, rest)));
  }
  return out;
}

/**
 * The paths a pattern names, sorted: the path itself when it has no glob character (if it exists),
 * else every match of `*`, `?`, `[…]` per segment and `**` for any depth of folders. Relative
 * patterns are taken from `cwd`. No shell is involved, so spaces and quotes in names are harmless.
 */
export async function expandPattern(pattern: string, cwd: string = process.cwd()): Promise<string[]> {
  const absolute = isAbsolute(pattern) ? pattern : resolve(cwd, pattern);
  if (!hasGlob(pattern)) return (await statOrUndefined(absolute)) ? [absolute] : [];
  const parts = absolute.split(sep);
  const first = parts.findIndex((p) => hasGlob(p) || p === '**');
  const base = parts.slice(0, first).join(sep) || sep;
  const found = await expandFrom(base, parts.slice(first));
  return [...new Set(found)].sort();
}

/**
 * A file or folder name that is safe to create in a folder of ours: not empty, `.` or `..`, no
 * separator and no control character.
 */
export function checkEntryName(name: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (name === '' || name === '.' || name === '..' || /[/\\\u0000-\u001f\u007f]/.test(name)) {
    throw new ValidationError(`${what}: ${JSON.stringify(name)} is not a usable file name`, [{ path: what, message: 'expected a plain file name' }]);
  }
  return name;
}

/**
 * Copies a file or a folder (recursively) to `dest`, which must not exist. Symbolic links are
 * followed, so the copy holds real files only and cannot point outside itself; a link loop, a
 * socket, a FIFO or a device is a ValidationError naming it. File modes are kept.
 */
export async function copyTree(src: string, dest: string, seen: Set<string> = new Set()): Promise<{ files: number; bytes: number }> {
  let stat: Stats;
  try {
    stat = await fsp.stat(src);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ValidationError(`${src}: cannot be read (${code === 'ENOENT' ? 'a broken link or missing' : code ?? String(err)})`, [{ path: src, message: 'cannot be read' }]);
  }
  if (stat.isFile()) {
    await fsp.copyFile(src, dest, 1 /* COPYFILE_EXCL */);
    return { files: 1, bytes: stat.size };
  }
  if (!stat.isDirectory()) throw new ValidationError(`${src}: not a regular file or folder (sockets, FIFOs and devices cannot be copied)`, [{ path: src, message: 'not a file or folder' }]);
  const real = await fsp.realpath(src);
  if (seen.has(real)) throw new ValidationError(`${src}: a symbolic link loop (it leads back to ${real})`, [{ path: src, message: 'link loop' }]);
  const inner = new Set(seen).add(real);
  await fsp.mkdir(dest);
  let files = 0;
  let bytes = 0;
  for (const name of (await fsp.readdir(src)).sort()) {
    const got = await copyTree(join(src, name), join(dest, name), inner);
    files += got.files;
    bytes += got.bytes;
  }
  return { files, bytes };
}

/** Every regular file below `dir` as `/`-separated relative paths, sorted. */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const rel = `${prefix}${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(join(dir, entry.name), `${rel}/`)));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A SHA-256 over the folder's content: one `<sha256>  <size>  <path>` line per regular file, sorted
 * by path. Independent of modification times and of where the folder is. `exclude` leaves
 * top-level names out (e.g. a file of secrets that changes on every run).
 */
export async function fingerprintFolder(dir: string, exclude: readonly string[] = []): Promise<string> {
  const lines: string[] = [];
  for (const rel of await listFiles(dir)) {
    if (exclude.includes(rel)) continue;
    const full = join(dir, rel);
    lines.push(`${await sha256File(full)}  ${(await fsp.stat(full)).size}  ${rel}`);
  }
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

/** Up to `max` names at the top of a folder, for messages (`kernel.py, model.json, …`). */
export async function describeFolder(dir: string, max = 12): Promise<string> {
  const names = (await fsp.readdir(dir).catch(() => [] as string[])).sort();
  if (names.length === 0) return 'nothing';
  return names.slice(0, max).join(', ') + (names.length > max ? `, … (${names.length} entries)` : '');
}

/** The base name of a path, checked with {@link checkEntryName}. */
export function entryNameOf(path: string, what: string): string {
  return checkEntryName(basename(path), what);
}

/** Where a prepared folder goes, and how to take it away again. */
export interface OutputFolder {
  /** `<parent>/<name>`. */
  readonly dir: string;
  /** Call once this run has made `dir`: from then on cleanup removes it (a folder that was there before is never removed). */
  claim(): void;
  /** Removes what was made: the temporary parent, or the claimed folder under a given parent. */
  cleanup(): Promise<void>;
}

/**
 * `<parentDir>/<name>` (parentDir resolved against `cwd` and created when missing), or, without a
 * parentDir, `<name>` in a new temporary folder named with `tempPrefix`.
 */
export async function outputFolder(name: string, parentDir: string | undefined, tempPrefix: string, cwd = process.cwd()): Promise<OutputFolder> {
  let createdParent: string | undefined;
  let parent: string;
  if (parentDir !== undefined) {
    parent = resolve(cwd, parentDir);
    await fsp.mkdir(parent, { recursive: true });
  } else {
    createdParent = await mkdtemp(join(tmpdir(), tempPrefix));
    parent = createdParent;
  }
  const dir = join(parent, name);
  let claimed = false;
  return {
    dir,
    claim: () => {
      claimed = true;
    },
    cleanup: async () => {
      if (createdParent) await rm(createdParent, { recursive: true, force: true });
      else if (claimed) await rm(dir, { recursive: true, force: true });
    },
  };
}
