import { parseEvents, getScalarValue, EVENT_ID, type Event } from 'js-yaml';
import type { z } from 'zod';
import { ValidationError } from '../errors';

/**
 * Turns zod issues into messages a person can act on: the YAML path of the offending value
 * (`<asset id>.wmla_deployment.resource_configs.n_cpus`), what was expected, what was found, and
 * the line in the YAML source when there is one.
 */

/** A 1-based position in a YAML source. */
export interface YamlLocation {
  readonly line: number;
  readonly column: number;
}

/** One problem found in a YAML (or JSON) document. */
export interface YamlIssue {
  /** Dotted path, e.g. `abc.wmla_deployment.resource_configs.n_cpus` or `x.thresholds.Dice.threshold[0]`. */
  readonly path: string;
  /** What is wrong, e.g. `expected a positive integer, got "8"`. */
  readonly message: string;
  /** Where the value (or, for a missing key, its parent) sits in the source. */
  readonly line?: number;
  readonly column?: number;
}

type PathKey = string | number;

/** Renders a path as dotted keys; keys that are not plain words are bracket-quoted, indexes are `[n]`. */
export function formatYamlPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (typeof k === 'string' && /^[A-Za-z0-9_-]+$/.test(k)) out += out ? `.${k}` : k;
    else out += `[${JSON.stringify(String(k))}]`;
  }
  return out || '(document root)';
}

function pathId(path: readonly PropertyKey[]): string {
  return JSON.stringify(path.map((k) => (typeof k === 'number' ? k : String(k))));
}

/**
 * The location of every mapping key and value of the first document of `source`, keyed by path.
 * Built from js-yaml's event stream; empty for text that does not parse.
 */
export function yamlLocations(source: string): Map<string, YamlLocation> {
  const out = new Map<string, YamlLocation>();
  let events: Event[];
  try {
    events = parseEvents(source, {});
  } catch {
    return out;
  }
  const lineStarts = [0];
  for (let i = 0; i < source.length; i++) if (source.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const locate = (offset: number): YamlLocation => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo] + 1 };
  };
  const record = (path: PathKey[], offset: number) => {
    const id = pathId(path);
    if (offset >= 0 && !out.has(id)) out.set(id, locate(offset));
  };
  interface Frame { kind: 'map' | 'seq' | 'doc'; path: PathKey[]; expectKey: boolean; key?: PathKey; index: number }
  const stack: Frame[] = [];
  let documents = 0;
  for (const ev of events) {
    if (ev.type === EVENT_ID.DOCUMENT) {
      if (++documents > 1) break;
      stack.push({ kind: 'doc', path: [], expectKey: false, index: 0 });
      continue;
    }
    if (ev.type === EVENT_ID.POP) {
      stack.pop();
      continue;
    }
    const top = stack[stack.length - 1];
    if (!top) break;
    const offset = ev.type === EVENT_ID.SCALAR ? ev.valueStart : ev.type === EVENT_ID.ALIAS ? ev.anchorStart : ev.start;
    if (top.kind === 'map' && top.expectKey) {
      // A key: remember it; non-scalar keys get a placeholder so the walk stays in step.
      top.key = ev.type === EVENT_ID.SCALAR ? getScalarValue(source, ev) : `#complex-key-${top.index}`;
      top.index++;
      top.expectKey = false;
      record([...top.path, top.key], offset);
      if (ev.type === EVENT_ID.MAPPING || ev.type === EVENT_ID.SEQUENCE) {
        stack.push({ kind: ev.type === EVENT_ID.MAPPING ? 'map' : 'seq', path: [...top.path, '#complex-key'], expectKey: true, index: 0 });
      }
      continue;
    }
    const path = top.kind === 'map' ? [...top.path, top.key as PathKey] : top.kind === 'seq' ? [...top.path, top.index++] : [];
    if (top.kind === 'map') top.expectKey = true;
    record(path, offset);
    if (ev.type === EVENT_ID.MAPPING) stack.push({ kind: 'map', path, expectKey: true, index: 0 });
    else if (ev.type === EVENT_ID.SEQUENCE) stack.push({ kind: 'seq', path, expectKey: false, index: 0 });
  }
  return out;
}

/** A short rendering of a found value for messages: `"8"`, `12`, `null`, `a mapping`, `[60,"lower"]`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    let s: string;
    try {
      s = JSON.stringify(value);
    } catch {
      s = '';
    }
    return s && s.length <= 60 ? s : `a list of ${value.length}`;
  }
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** Best-effort: the object keys a schema accepts at `path`, to list them next to an unknown key. */
function knownKeysAt(schema: z.ZodType | undefined, path: readonly PropertyKey[]): string[] | undefined {
  let s: any = schema;
  const unwrap = () => {
    for (let i = 0; i < 20 && s; i++) {
      const def = s?._zod?.def;
      if (!def) return;
      if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional'].includes(def.type)) s = def.innerType;
      else if (def.type === 'pipe') s = def.in;
      else return;
    }
  };
  try {
    unwrap();
    for (const k of path) {
      const def = s?._zod?.def;
      if (!def) return undefined;
      if (def.type === 'object') s = def.shape[k as string];
      else if (def.type === 'record') s = def.valueType;
      else if (def.type === 'array') s = def.element;
      else if (def.type === 'tuple') s = def.items[k as number];
      else return undefined;
      unwrap();
    }
    const def = s?._zod?.def;
    return def?.type === 'object' ? Object.keys(def.shape) : undefined;
  } catch {
    return undefined;
  }
}

function lowerFirst(s: string): string {
  return s ? s[0].toLowerCase() + s.slice(1) : s;
}

/** Our schemas phrase messages as "expected …"; zod's own defaults are rephrased into that form. */
function expectation(issue: z.core.$ZodIssue): string {
  const msg = issue.message ?? '';
  if (issue.code === 'invalid_key') {
    // The key schema's own message says what a key must look like; the record's is about values.
    const inner = issue.issues?.[0]?.message;
    return inner ? lowerFirst(inner) : 'invalid key';
  }
  if (/^expected\b/i.test(msg)) return lowerFirst(msg);
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return lowerFirst(msg.replace(/^Invalid input: /, ''));
  }
}

/**
 * Maps the issues of a failed `safeParse(value, { reportInput: true })` to {@link YamlIssue}s.
 *
 * @param options.source the YAML text `value` was loaded from, for line numbers.
 * @param options.prefix a path to put before every issue path (e.g. the entry key when an entry is validated alone).
 * @param options.schema the schema that failed, to list the accepted keys next to an unknown one.
 */
export function issuesFromZod(
  issues: readonly z.core.$ZodIssue[],
  options: { source?: string; prefix?: readonly PropertyKey[]; schema?: z.ZodType } = {},
): YamlIssue[] {
  const locations = options.source !== undefined ? yamlLocations(options.source) : undefined;
  const prefix = options.prefix ?? [];
  const where = (path: readonly PropertyKey[]): YamlLocation | undefined => {
    if (!locations) return undefined;
    // A missing key has no location of its own: fall back to the nearest ancestor that has one.
    for (let n = path.length; n >= 0; n--) {
      const loc = locations.get(pathId(path.slice(0, n)));
      if (loc) return loc;
    }
    return undefined;
  };
  const out: YamlIssue[] = [];
  const push = (path: readonly PropertyKey[], message: string) => {
    const full = [...prefix, ...path];
    const loc = where(full);
    out.push({ path: formatYamlPath(full), message, ...(loc ? { line: loc.line, column: loc.column } : {}) });
  };
  for (const issue of issues) {
    const input = (issue as { input?: unknown }).input;
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(options.schema, issue.path);
      for (const key of issue.keys) push([...issue.path, key], `unknown key${known ? `; expected one of: ${known.join(', ')}` : ''}`);
      continue;
    }
    if (issue.code === 'invalid_key') {
      push(issue.path, `invalid key: ${expectation(issue)}, got ${describeValue(input)}`);
      continue;
    }
    const expected = expectation(issue);
    if (input === undefined) push(issue.path, issue.code === 'invalid_type' || issue.code === 'invalid_union' ? `required: ${expected}` : expected);
    else if (issue.code === 'custom' && !/^expected\b/i.test(issue.message)) push(issue.path, issue.message);
    else push(issue.path, `${expected}, got ${describeValue(input)}`);
  }
  return out;
}

/** One line per issue: `path: message (line N)`. */
export function formatIssues(issues: readonly YamlIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}${i.line ? ` (line ${i.line})` : ''}`).join('\n');
}

/**
 * Validates `value` with `schema`; on failure throws a {@link ValidationError} whose message names
 * `what` (a file name or description) and lists every issue with its YAML path and line.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  options: { source?: string; prefix?: readonly PropertyKey[] } = {},
): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = issuesFromZod(result.error.issues, { ...options, schema });
  const lines = issues.map((i) => `  ${i.path}: ${i.message}${i.line ? ` (line ${i.line})` : ''}`);
  throw new ValidationError(`${what} is not valid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`, issues);
}
