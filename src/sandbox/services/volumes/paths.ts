import { realpathSync, type Stats, lstatSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { badRequest, forbidden } from '../../errors';

/**
 * The volume-relative form of a path from the URL (already percent-decoded once by the router).
 * `''` and `/` are the volume root; a leading `/` is relative to the root. Rejected with 400:
 * `..` segments (also double-encoded `%2e%2e`), NUL and control characters, backslashes, drive letters.
 */
export function volumeRelativePath(raw: string, field = 'path'): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw badRequest(`${field}: contains a NUL or control character`, 'invalid_path');
  if (raw.includes('\\')) throw badRequest(`${field}: contains a backslash`, 'invalid_path');
  if (/^\/*[A-Za-z]:/.test(raw)) throw badRequest(`${field}: starts with a drive letter`, 'invalid_path');
  if (raw.startsWith('//')) throw badRequest(`${field}: is not relative to the volume`, 'invalid_path');
  const segments: string[] = [];
  for (const segment of raw.split('/')) {
    let twice = segment;
    try {
      twice = decodeURIComponent(segment);
    } catch {
      /* literal % in a name */
    }
    if (segment === '..' || twice === '..' || twice === '.' || /%2e%2e/i.test(segment)) {
      throw badRequest(`${field}: '..' segments are not allowed (${JSON.stringify(raw)})`, 'invalid_path');
    }
    if (segment !== '' && segment !== '.') segments.push(segment);
  }
  return segments.join('/');
}

export function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Guards against symlinks inside a volume that lead out of it: the real path of `abs` (or of its deepest
 * existing ancestor) must stay inside the volume's real root; 403 otherwise.
 */
export function assertStaysInside(realRoot: string, abs: string, shown: string): void {
  let probe = abs;
  for (;;) {
    try {
      const real = realpathSync(probe);
      if (!isInside(realRoot, real)) throw forbidden(`${shown} leads outside the volume`);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      const parent = dirname(probe);
      if (parent === probe) return;
      probe = parent;
    }
  }
}

export function joinInside(root: string, rel: string): string {
  return rel === '' ? root : join(root, ...rel.split('/'));
}
