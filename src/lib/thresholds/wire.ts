import { z } from 'zod';
import { ValidationError } from '../errors';
import { metricIdFromName, type MonitorSpec } from '../monitors/definitions';
import { defaultThresholds, withOverrides } from './defaults';
import { thresholdDirection, thresholdType, type ThresholdMap, type ThresholdType } from './schema';

/**
 * OpenScale's wire forms of thresholds (ibm-api-contracts.md §5.7, §5.8):
 * a monitor definition metric carries `thresholds: [{ type, default }]`, a monitor instance
 * carries overrides `[{ metric_id, type, value }]`.
 */

const LimitType = z.enum(['lower_limit', 'upper_limit']);

/** One threshold of a metric in a monitor definition. */
export const DefinitionThreshold = z.looseObject({ type: LimitType, default: z.number().optional() });
export type DefinitionThreshold = z.infer<typeof DefinitionThreshold>;

/** A metric of a monitor definition, as sent on create and echoed back (with `id`) by OpenScale. */
export const DefinitionMetric = z.looseObject({
  name: z.string(),
  id: z.string().optional(),
  description: z.string().optional(),
  thresholds: z.array(DefinitionThreshold).optional(),
});
export type DefinitionMetric = z.infer<typeof DefinitionMetric>;

/** A threshold override of a monitor instance. */
export const InstanceThreshold = z.looseObject({ metric_id: z.string(), type: LimitType, value: z.number().optional() });
export type InstanceThreshold = z.infer<typeof InstanceThreshold>;

/**
 * The `metrics` array of a monitor definition create request: one metric per spec metric with one
 * threshold, whose default is taken from `thresholds` when given (names must be metrics of the spec),
 * else from the spec's own defaults.
 */
export function toDefinitionMetrics(monitor: MonitorSpec, thresholds?: ThresholdMap): Array<{ name: string; description: string; thresholds: Array<{ type: ThresholdType; default: number }> }> {
  const effective = thresholds ? withOverrides(defaultThresholds(monitor), thresholds) : defaultThresholds(monitor);
  return monitor.metrics.map((m) => {
    const [value, direction] = effective[m.name].threshold;
    return { name: m.name, description: m.description, thresholds: [{ type: thresholdType(direction), default: value }] };
  });
}

/**
 * The default thresholds of a definition as read back from OpenScale, in YAML form. Uses the first
 * threshold that has a default (the predecessor read only `thresholds[0]`, §8.17); metrics without one
 * are left out.
 */
export function thresholdsFromDefinition(metrics: readonly DefinitionMetric[]): ThresholdMap {
  const out: ThresholdMap = {};
  for (const m of metrics) {
    const t = (m.thresholds ?? []).find((x) => typeof x.default === 'number');
    if (t && typeof t.default === 'number') out[m.name] = { threshold: [t.default, thresholdDirection(t.type)] };
  }
  return out;
}

/** Monitor-instance overrides for YAML thresholds, `metric_id` = {@link metricIdFromName} of the name, sorted by id. */
export function toInstanceThresholds(thresholds: ThresholdMap): Array<{ metric_id: string; type: ThresholdType; value: number }> {
  return Object.entries(thresholds)
    .map(([name, s]) => ({ metric_id: metricIdFromName(name), type: thresholdType(s.threshold[1]), value: s.threshold[0] }))
    .sort((a, b) => (a.metric_id < b.metric_id ? -1 : a.metric_id > b.metric_id ? 1 : a.type < b.type ? -1 : 1));
}

/**
 * YAML thresholds from monitor-instance overrides, naming metrics as `monitor` does. An override for
 * a metric id the monitor does not have is an error naming it. Overrides without a value are skipped.
 */
export function thresholdsFromInstance(overrides: readonly InstanceThreshold[], monitor: MonitorSpec): ThresholdMap {
  const byId = new Map(monitor.metrics.map((m) => [metricIdFromName(m.name), m.name] as const));
  const out: ThresholdMap = {};
  for (const o of overrides) {
    const name = byId.get(o.metric_id);
    if (!name) {
      throw new ValidationError(`monitor instance threshold: metric id "${o.metric_id}" is not a metric of ${monitor.id} (ids: ${[...byId.keys()].join(', ')})`, [
        { path: o.metric_id, message: 'unknown metric id' },
      ]);
    }
    if (typeof o.value === 'number') out[name] = { threshold: [o.value, thresholdDirection(o.type)] };
  }
  return out;
}

/** How one metric's threshold differs; a missing side means the metric has no threshold there. */
export interface ThresholdChange {
  readonly metric: string;
  readonly before?: readonly [number, 'lower' | 'upper'];
  readonly after?: readonly [number, 'lower' | 'upper'];
}

/** Equal up to floating-point noise (values travel through JSON and YAML). */
export function sameNumber(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * The metrics whose threshold differs between `before` and `after`, sorted by metric name.
 * Metric names are compared by their OpenScale id, so `Dice` and `dice` are the same metric
 * (the name of `after` is reported).
 */
export function diffThresholds(before: ThresholdMap, after: ThresholdMap): ThresholdChange[] {
  const index = (m: ThresholdMap) => new Map(Object.entries(m).map(([name, s]) => [metricIdFromName(name), { name, s }] as const));
  const a = index(before);
  const b = index(after);
  const changes: ThresholdChange[] = [];
  for (const id of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(id);
    const y = b.get(id);
    if (x && y && sameNumber(x.s.threshold[0], y.s.threshold[0]) && x.s.threshold[1] === y.s.threshold[1]) continue;
    // Rebuilt pairs: under tslab's non-strict compiler zod's tuple type widens to optional elements.
    const pair = (t: ThresholdMap[string]['threshold']): readonly [number, 'lower' | 'upper'] => [t[0] as number, t[1] as 'lower' | 'upper'];
    changes.push({ metric: (y ?? x)!.name, before: x ? pair(x.s.threshold) : undefined, after: y ? pair(y.s.threshold) : undefined });
  }
  return changes.sort((p, q) => (p.metric < q.metric ? -1 : p.metric > q.metric ? 1 : 0));
}

/** True when both sets set the same metrics to the same values and directions. */
export function thresholdsEqual(a: ThresholdMap, b: ThresholdMap): boolean {
  return diffThresholds(a, b).length === 0;
}

/**
 * Whether a monitor instance's current overrides already match the desired YAML thresholds, so a
 * client can skip (or perform) the update. Overrides are compared as (metric id, type) → value.
 */
export function instanceThresholdsMatch(current: readonly InstanceThreshold[], desired: ThresholdMap): boolean {
  const want = toInstanceThresholds(desired);
  const key = (o: { metric_id: string; type: string }) => `${o.metric_id}\u0000${o.type}`;
  const have = new Map<string, number | undefined>();
  for (const o of current) {
    if (have.has(key(o))) return false; // duplicate overrides: let the client rewrite them
    have.set(key(o), o.value);
  }
  if (have.size !== want.length) return false;
  return want.every((w) => {
    const v = have.get(key(w));
    return typeof v === 'number' && sameNumber(v, w.value);
  });
}
