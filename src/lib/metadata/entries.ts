import type { z } from 'zod';
import { ValidationError } from '../errors';
import { parseOrThrow } from './yaml-issues';

/**
 * Pure operations on a keyed metadata document (`{ <key>: entry }`). Each returns a new document and
 * leaves its inputs untouched (the predecessor popped keys out of the caller's dict, §8.14). Pass the
 * entry schema to validate the resulting entry; errors then carry its YAML path (`<key>.field…`).
 */

/** A patch for {@link updateEntry}: any subset of the fields, at any depth. */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

type Doc<E> = Readonly<Record<string, E>>;

/** A `{}` object of any realm (structuredClone may build objects with another realm's Object.prototype). */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/**
 * Deep merge: mappings merge key by key, recursively; everything else in the patch (scalars,
 * `null`, lists such as `[60, lower]`) replaces the base value; `undefined` leaves it alone.
 * Keys cannot be removed by a merge: replace the entry ({@link addEntry} with `overwrite`) for that.
 */
export function deepMerge<T>(base: T, patch: DeepPartial<T> | undefined): T {
  if (patch === undefined) return structuredClone(base);
  if (!isPlainObject(base) || !isPlainObject(patch)) return structuredClone(patch as T);
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    out[k] = k in out ? deepMerge(out[k], v as never) : structuredClone(v);
  }
  return out as T;
}

interface EntryOptions<E> {
  /** Validates the resulting entry; the document is not changed when it fails. */
  readonly schema?: z.ZodType<E, any>;
  /** Names the document in errors, e.g. `deployment_metadata.yml`. */
  readonly what?: string;
}

function validated<E>(entry: unknown, key: string, opts: EntryOptions<E>): E {
  if (!opts.schema) return entry as E;
  return parseOrThrow(opts.schema, entry, `${opts.what ?? 'metadata'} entry "${key}"`, { prefix: [key] }) as E;
}

/**
 * A copy of `doc` with `entry` under `key`. An existing key is an error unless `overwrite` is set,
 * in which case the whole entry is replaced.
 */
export function addEntry<E>(doc: Doc<E>, key: string, entry: E, opts: EntryOptions<E> & { overwrite?: boolean } = {}): Record<string, E> {
  if (!key) throw new ValidationError('an entry key must be a non-empty string', [{ path: '(key)', message: 'expected a non-empty key' }]);
  if (Object.prototype.hasOwnProperty.call(doc, key) && !opts.overwrite) {
    throw new ValidationError(`${opts.what ?? 'metadata'}: entry "${key}" already exists; pass overwrite: true to replace it`, [
      { path: key, message: 'entry already exists' },
    ]);
  }
  const out = structuredClone(doc) as Record<string, E>;
  out[key] = validated(structuredClone(entry), key, opts);
  return out;
}

/**
 * A copy of `doc` whose entry `key` is deep-merged with `patch` (see {@link deepMerge}): only the
 * given fields change, nested mappings such as `resource_configs` or a monitor's `thresholds` keep
 * their other keys. A missing key is an error.
 */
export function updateEntry<E>(doc: Doc<E>, key: string, patch: DeepPartial<E>, opts: EntryOptions<E> = {}): Record<string, E> {
  if (!Object.prototype.hasOwnProperty.call(doc, key)) {
    const keys = Object.keys(doc);
    throw new ValidationError(`${opts.what ?? 'metadata'}: no entry "${key}" to update${keys.length ? ` (entries: ${keys.join(', ')})` : ' (the document is empty)'}`, [
      { path: key, message: 'no such entry' },
    ]);
  }
  const out = structuredClone(doc) as Record<string, E>;
  out[key] = validated(deepMerge(doc[key], patch), key, opts);
  return out;
}

/** A copy of `doc` without `key`. A missing key is an error unless `missingOk`. */
export function deleteEntry<E>(doc: Doc<E>, key: string, opts: { missingOk?: boolean; what?: string } = {}): Record<string, E> {
  if (!Object.prototype.hasOwnProperty.call(doc, key)) {
    if (opts.missingOk) return structuredClone(doc) as Record<string, E>;
    throw new ValidationError(`${opts.what ?? 'metadata'}: no entry "${key}" to delete`, [{ path: key, message: 'no such entry' }]);
  }
  const out = structuredClone(doc) as Record<string, E>;
  delete out[key];
  return out;
}
