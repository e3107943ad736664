import { load, dump, visit, COLLECTION_STYLE, YAMLException } from 'js-yaml';
import type { z } from 'zod';
import { ValidationError } from '../errors';
import { parseOrThrow } from './yaml-issues';
import { DeploymentMetadata, MonitorMetadata } from './schema';

/**
 * Reading and writing the metadata YAML: YAML 1.2 core schema (no custom tags, no code), duplicate
 * keys rejected, output stable (fields in schema order, ids sorted, `[value, lower]` pairs inline) so
 * that a diff between two revisions shows only what changed.
 */

/** Parses YAML text; a syntax error becomes a {@link ValidationError} naming the file and line. An empty text is `null`. */
export function loadYaml(text: string, what: string): unknown {
  if (text.replace(/#[^\n]*/g, '').trim() === '') return null;
  try {
    return load(text, { filename: what, maxAliases: 100 });
  } catch (err) {
    if (err instanceof YAMLException) {
      const line = err.mark ? err.mark.line + 1 : undefined;
      const column = err.mark ? err.mark.column + 1 : undefined;
      throw new ValidationError(`${what}${line ? `:${line}` : ''}: not valid YAML: ${err.reason}`, [
        { path: '(document root)', message: `not valid YAML: ${err.reason}`, ...(line ? { line, column } : {}) } as { path: string; message: string },
      ]);
    }
    throw err;
  }
}

/** Unwraps optional/nullable/default/pipe wrappers to the schema that shapes the value. */
function core(schema: any): any {
  let s = schema;
  for (let i = 0; i < 20; i++) {
    const def = s?._zod?.def;
    if (!def) return s;
    if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional'].includes(def.type)) s = def.innerType;
    else if (def.type === 'pipe') s = def.out?._zod?.def?.type === 'transform' ? def.in : def.out;
    else return s;
  }
  return s;
}

/** Case-insensitive, then by code point: locale-independent, so every machine writes the same order. */
function byCodePoint(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x !== y) return x < y ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A copy of `value` with object fields in the schema's order, record keys sorted and `undefined`
 * fields dropped: the canonical form written to disk.
 */
export function canonicalize(value: unknown, schema: z.ZodType): unknown {
  const def = core(schema)?._zod?.def;
  if (Array.isArray(value)) {
    if (def?.type === 'tuple') return value.map((v, i) => canonicalize(v, def.items[i]));
    if (def?.type === 'array') return value.map((v) => canonicalize(v, def.element));
    return value.slice();
  }
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (def?.type === 'object') {
    const shape = def.shape as Record<string, z.ZodType>;
    for (const k of Object.keys(shape)) if (obj[k] !== undefined) out[k] = canonicalize(obj[k], shape[k]);
    for (const k of Object.keys(obj).sort(byCodePoint)) if (!(k in shape) && obj[k] !== undefined) out[k] = canonicalize(obj[k], undefined as never);
    return out;
  }
  const valueSchema = def?.type === 'record' ? def.valueType : undefined;
  for (const k of Object.keys(obj).sort(byCodePoint)) if (obj[k] !== undefined) out[k] = canonicalize(obj[k], valueSchema);
  return out;
}

/**
 * Human-readable YAML: block mappings, scalar lists inline (`threshold: [60, lower]`), no anchors,
 * no line folding, strings quoted only where YAML would misread them (`'True'`, `'8'`).
 */
export function dumpYaml(value: unknown, header?: string): string {
  const body = dump(value, {
    noRefs: true,
    lineWidth: -1,
    transform: (docs) =>
      visit(docs, (node) => {
        if (node.kind === 'sequence' && node.items.length > 0 && node.items.every((i) => i.kind === 'scalar')) node.style = COLLECTION_STYLE.FLOW;
      }),
  });
  const comment = header ? header.split('\n').map((l) => (l ? `# ${l}` : '#')).join('\n') + '\n' : '';
  return comment + body;
}

/** How one metadata file is read and written; shared by the file store and the space-backed store. */
export interface MetadataCodec<D> {
  /** The data asset / file name, e.g. `deployment_metadata.yml`. */
  readonly fileName: string;
  /** The document of a file that does not exist yet. */
  empty(): D;
  /** Parses and validates; throws {@link ValidationError} with YAML paths and lines. `source` names the file in messages. */
  parse(text: string, source?: string): D;
  /** Validates and writes the canonical YAML text. */
  serialize(doc: D): string;
}

function codec<S extends z.ZodType<Record<string, unknown>>>(fileName: string, schema: S, header: string): MetadataCodec<z.output<S>> {
  return {
    fileName,
    empty: () => ({}) as z.output<S>,
    parse(text, source = fileName) {
      const raw = loadYaml(text, source);
      return parseOrThrow(schema, raw === null ? {} : raw, source, { source: text });
    },
    serialize(doc) {
      const valid = parseOrThrow(schema, doc, `${fileName} (about to be written)`);
      return dumpYaml(canonicalize(valid, schema), header);
    },
  };
}

/** `deployment_metadata.yml`: entries keyed by model asset id. */
export const deploymentMetadataCodec: MetadataCodec<DeploymentMetadata> = codec(
  'deployment_metadata.yml',
  DeploymentMetadata,
  'deployment_metadata.yml: written by cpd-runbook; one entry per model asset id.\nEdit with `runbook` or keep the form: hand edits are validated on the next read.',
);

/** `monitor_metadata.yml`: entries keyed by OpenScale monitor definition id. */
export const monitorMetadataCodec: MetadataCodec<MonitorMetadata> = codec(
  'monitor_metadata.yml',
  MonitorMetadata,
  'monitor_metadata.yml: written by cpd-runbook; one entry per OpenScale custom monitor id.',
);

/** Parses and validates `deployment_metadata.yml` text. */
export function parseDeploymentMetadata(text: string, source?: string): DeploymentMetadata {
  return deploymentMetadataCodec.parse(text, source);
}

/** The canonical YAML of a deployment metadata document (validated first). */
export function serializeDeploymentMetadata(doc: DeploymentMetadata): string {
  return deploymentMetadataCodec.serialize(doc);
}

/** Parses and validates `monitor_metadata.yml` text. */
export function parseMonitorMetadata(text: string, source?: string): MonitorMetadata {
  return monitorMetadataCodec.parse(text, source);
}

/** The canonical YAML of a monitor metadata document (validated first). */
export function serializeMonitorMetadata(doc: MonitorMetadata): string {
  return monitorMetadataCodec.serialize(doc);
}
