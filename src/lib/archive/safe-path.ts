import { ValidationError } from '../errors';

/**
 * The normalised form of a relative path taken from an archive entry, an upload or a URL
 * (`a/./b//c` → `a/b/c`), or a ValidationError naming `what` when it could escape its folder:
 * empty, absolute (`/x`, `\x`, `C:…`), a `..` segment, a backslash, or a NUL/control character.
 */
export function safeRelativePath(path: string, what = 'path'): string {
  const fail = (why: string): never => {
    throw new ValidationError(`${what} ${JSON.stringify(path)} is not allowed: ${why}`, [{ path: what, message: why }]);
  };
  if (path.length === 0) fail('it is empty');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) fail('it contains a NUL or control character');
  if (path.includes('\\')) fail('it contains a backslash');
  if (path.startsWith('/')) fail('it is absolute');
  if (/^[A-Za-z]:/.test(path)) fail('it starts with a drive letter');
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) fail("it contains a '..' segment");
  if (segments.length === 0) fail('it names no file');
  return segments.join('/');
}

/** True when `path` passes {@link safeRelativePath}. */
export function isSafeRelativePath(path: string): boolean {
  try {
    safeRelativePath(path);
    return true;
  } catch {
    return false;
  }
}
