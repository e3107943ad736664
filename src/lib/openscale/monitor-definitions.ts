import { MonitorDefinition, MonitorDefinitionCollection, type MonitorDefinitionRequest } from '../contracts/openscale';
import { monitorIdFromName, type MonitorSpec } from '../monitors/definitions';
import { PLANNED_ID, type MutationOptions } from '../plan';
import type { ThresholdMap } from '../thresholds/schema';
import { sameNumber, toDefinitionMetrics } from '../thresholds/wire';
import { getOptional, type Ensured, type OpenScaleHttp } from './common';

/** Every monitor definition of the service instance: OpenScale's built-in ones and custom ones. */
export async function listMonitorDefinitions(os: OpenScaleHttp): Promise<MonitorDefinition[]> {
  return (await os.request({ path: '/v2/monitor_definitions', schema: MonitorDefinitionCollection })).monitor_definitions;
}

/** The definition with this id, or undefined. */
export async function getMonitorDefinition(os: OpenScaleHttp, id: string): Promise<MonitorDefinition | undefined> {
  return getOptional(os, `/v2/monitor_definitions/${encodeURIComponent(id)}`, MonitorDefinition);
}

/**
 * The definition with this display name: looked up by the id OpenScale derives from the name, then
 * (should a service derive ids differently) by name among all definitions.
 */
export async function findMonitorDefinitionByName(os: OpenScaleHttp, name: string): Promise<MonitorDefinition | undefined> {
  const byId = await getMonitorDefinition(os, monitorIdFromName(name));
  if (byId && byId.entity.name === name) return byId;
  return (await listMonitorDefinitions(os)).find((d) => d.entity.name === name) ?? byId;
}

/** Options of a definition built from a {@link MonitorSpec}. */
export interface DefinitionOptions {
  /** Display name (default the spec's, e.g. `Segmentation Metrics`); the id derives from it. */
  readonly name?: string;
  /** Default thresholds other than the spec's (metric names of the spec). */
  readonly thresholds?: ThresholdMap;
}

/** The create (and PUT) body of a custom-metrics-provider monitor: one lower/upper limit per metric, no tags. */
export function monitorDefinitionBody(spec: MonitorSpec, options: DefinitionOptions = {}): MonitorDefinitionRequest {
  return {
    name: options.name ?? spec.name,
    description: spec.description,
    metrics: toDefinitionMetrics(spec, options.thresholds),
    tags: [],
    monitor_runtime: { type: 'custom_metrics_provider' },
  };
}

/**
 * How an existing definition differs from the wanted body, one line per difference: metrics
 * missing or extra (by name), thresholds of another type or default. Descriptions are not compared.
 */
export function definitionDifferences(existing: MonitorDefinition, wanted: MonitorDefinitionRequest): string[] {
  const out: string[] = [];
  const have = new Map(existing.entity.metrics.map((m) => [m.name, m] as const));
  const want = new Map(wanted.metrics.map((m) => [m.name, m] as const));
  for (const name of want.keys()) if (!have.has(name)) out.push(`metric ${name} is missing`);
  for (const name of have.keys()) if (!want.has(name)) out.push(`metric ${name} is not one of ${wanted.name}'s`);
  for (const [name, w] of want) {
    const h = have.get(name);
    if (!h) continue;
    const show = (ts: readonly { type: string; default?: number }[] | undefined) => (ts ?? []).map((t) => `${t.type} ${t.default ?? '(none)'}`).join(', ') || 'no thresholds';
    const a = [...(h.thresholds ?? [])].sort((x, y) => (x.type < y.type ? -1 : 1));
    const b = [...(w.thresholds ?? [])].sort((x, y) => (x.type < y.type ? -1 : 1));
    const same = a.length === b.length && a.every((t, i) => t.type === b[i]!.type && (t.default === undefined ? b[i]!.default === undefined : b[i]!.default !== undefined && sameNumber(t.default, b[i]!.default!)));
    if (!same) out.push(`metric ${name}: thresholds ${show(h.thresholds)}, expected ${show(w.thresholds)}`);
  }
  const runtime = existing.entity.monitor_runtime?.type;
  if (wanted.monitor_runtime && runtime !== wanted.monitor_runtime.type) out.push(`monitor_runtime ${runtime ?? '(unset)'}, expected ${wanted.monitor_runtime.type}`);
  return out;
}

/** Options of {@link ensureMonitorDefinition}. */
export interface EnsureDefinitionOptions extends DefinitionOptions, MutationOptions {
  /**
   * What to do when the existing definition differs: `report` (default) leaves it alone and lists
   * the differences in `differences`; `update` replaces it with PUT. Definitions are shared by every
   * deployment's monitor instances and OpenScale refuses changes that orphan instance thresholds,
   * so nothing is changed unless asked for. Never deleted and recreated (predecessor §8.25).
   */
  readonly onDifference?: 'report' | 'update';
}

/**
 * The monitor definition of `spec`, registered when missing (with the spec's default thresholds).
 * Returns its id, which instances, runs and the provider's payload use.
 */
export async function ensureMonitorDefinition(
  os: OpenScaleHttp,
  spec: MonitorSpec,
  options: EnsureDefinitionOptions = {},
): Promise<Ensured<MonitorDefinition> & { readonly differences: readonly string[] }> {
  const body = monitorDefinitionBody(spec, options);
  const existing = await findMonitorDefinitionByName(os, body.name);
  if (!existing) {
    const note = `${body.metrics.length} metrics with default thresholds`;
    if (options.plan) {
      options.plan.record({ service: 'openscale', action: 'create', resource: 'monitor_definition', target: body.name, detail: `id ${monitorIdFromName(body.name)}, ${note}` });
      return { id: monitorIdFromName(body.name) || PLANNED_ID, outcome: 'created', planned: true, changes: [note], differences: [] };
    }
    const created = await os.request({ method: 'POST', path: '/v2/monitor_definitions', body, schema: MonitorDefinition });
    return { id: created.metadata.id, outcome: 'created', planned: false, resource: created, changes: [note], differences: [] };
  }
  const differences = definitionDifferences(existing, body);
  if (differences.length === 0 || (options.onDifference ?? 'report') === 'report') {
    return { id: existing.metadata.id, outcome: 'existing', planned: false, resource: existing, changes: [], differences };
  }
  if (options.plan) {
    options.plan.record({ service: 'openscale', action: 'update', resource: 'monitor_definition', target: body.name, detail: differences.join('; ') });
    return { id: existing.metadata.id, outcome: 'updated', planned: true, resource: existing, changes: differences, differences };
  }
  const updated = await os.request({ method: 'PUT', path: `/v2/monitor_definitions/${encodeURIComponent(existing.metadata.id)}`, body, schema: MonitorDefinition });
  return { id: existing.metadata.id, outcome: 'updated', planned: false, resource: updated, changes: differences, differences };
}
