import type { JsonPatch } from '../../../lib/contracts/openscale';

/**
 * Equality of JSON values (RFC 6902 §4.6). Not `util.isDeepStrictEqual`: that also compares
 * prototypes, which differ across realms (structuredClone under jest).
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** A patch that cannot be applied; the message names the operation (`patch[2] (replace /name)`). */
export class JsonPatchError extends Error {}

type Container = Record<string, unknown> | unknown[];

/** RFC 6901 pointer → reference tokens (`/a~1b/~0c` → `['a/b', '~c']`). */
function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`'${pointer}' is not a JSON pointer (it must be empty or start with '/')`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => {
      if (/~(?![01])/.test(t)) throw new Error(`'${pointer}' has an invalid escape (only ~0 and ~1 are allowed)`);
      const token = t.replace(/~1/g, '/').replace(/~0/g, '~');
      if (token === '__proto__') throw new Error(`'${pointer}' names __proto__`);
      return token;
    });
}

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** An array index token: `0` or digits without a leading zero, below `max` (inclusive when adding). */
function arrayIndex(token: string, length: number, forAdd: boolean): number {
  if (forAdd && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`'${token}' is not an array index`);
  const i = Number(token);
  if (i > length || (!forAdd && i === length)) throw new Error(`index ${i} is out of bounds (length ${length})`);
  return i;
}

function resolve(doc: unknown, path: string[]): unknown {
  let cur = doc;
  for (const t of path) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false)];
    else if (isContainer(cur) && own(cur, t)) cur = (cur as Record<string, unknown>)[t];
    else throw new Error(`'${t}' does not exist`);
  }
  return cur;
}

function parentOf(doc: unknown, path: string[]): Container {
  const parent = resolve(doc, path.slice(0, -1));
  if (!isContainer(parent)) throw new Error('its parent is not an object or array');
  return parent;
}

function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function add(doc: unknown, path: string[], value: unknown): unknown {
  if (path.length === 0) return value;
  const parent = parentOf(doc, path);
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true), 0, value);
  else setKey(parent, last, value);
  return doc;
}

function remove(doc: unknown, path: string[]): unknown {
  if (path.length === 0) throw new Error('the whole document cannot be removed');
  const parent = parentOf(doc, path);
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, false), 1);
  else if (own(parent, last)) delete parent[last];
  else throw new Error(`'${last}' does not exist`);
  return doc;
}

/**
 * Applies an RFC 6902 patch (add, remove, replace, move, copy, test) to a copy of `doc` and returns
 * the result; `doc` is untouched, and a failing operation fails the whole patch.
 */
export function applyJsonPatch<T>(doc: T, patch: JsonPatch): T {
  let out: unknown = structuredClone(doc);
  patch.forEach((op, i) => {
    try {
      const path = tokens(op.path);
      switch (op.op) {
        case 'add':
          out = add(out, path, structuredClone(op.value));
          break;
        case 'remove':
          out = remove(out, path);
          break;
        case 'replace': {
          resolve(out, path); // must exist
          if (path.length === 0) {
            out = structuredClone(op.value);
            break;
          }
          const parent = parentOf(out, path);
          const last = path[path.length - 1]!;
          if (Array.isArray(parent)) parent[arrayIndex(last, parent.length, false)] = structuredClone(op.value);
          else setKey(parent, last, structuredClone(op.value));
          break;
        }
        case 'move': {
          const from = tokens(op.from!);
          if (op.path !== op.from && op.path.startsWith(`${op.from}/`)) throw new Error(`cannot move '${op.from}' into itself`);
          const value = resolve(out, from);
          out = add(remove(out, from), path, value);
          break;
        }
        case 'copy':
          out = add(out, path, structuredClone(resolve(out, tokens(op.from!))));
          break;
        case 'test': {
          const actual = resolve(out, path);
          if (!jsonEqual(actual, op.value)) throw new Error(`test failed: the value is ${JSON.stringify(actual)}, not ${JSON.stringify(op.value)}`);
          break;
        }
      }
    } catch (err) {
      if (err instanceof JsonPatchError) throw err;
      throw new JsonPatchError(`patch[${i}] (${op.op} ${op.path}): ${(err as Error).message}`);
    }
  });
  return out as T;
}
