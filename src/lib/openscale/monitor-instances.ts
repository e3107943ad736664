import {
  MonitorInstance,
  MonitorInstanceCollection,
  type JsonPatch,
  type MonitorDefinition,
  type MonitorInstanceRequest,
} from '../contracts/openscale';
import { ValidationError } from '../errors';
import { PLANNED_ID, type MutationOptions } from '../plan';
import { withOverrides, type ThresholdOverride } from '../thresholds/defaults';
import { thresholdDirection, thresholdType, type ThresholdMap } from '../thresholds/schema';
import { diffThresholds, sameNumber, thresholdsFromDefinition, type ThresholdChange } from '../thresholds/wire';
import { DuplicateResourceError, failureText, pollState, type Ensured, type OpenScaleHttp, type WaitOptions } from './common';
import { defaultDataMartId } from './data-marts';
import { getMonitorDefinition } from './monitor-definitions';

/** The runbook's `custom_metrics_wait_time` (seconds OpenScale waits for the provider). */
export const DEFAULT_CUSTOM_METRICS_WAIT_SECONDS = 360;

/** Filters of `GET /v2/monitor_instances`. */
export interface MonitorInstanceFilter {
  readonly monitorDefinitionId?: string;
  /** Instances whose target is this subscription. */
  readonly subscriptionId?: string;
  readonly dataMartId?: string;
}

/**
 * Monitor instances, narrowed by definition, subscription and data mart when given. The filters are
 * applied again to the answer, so a service that ignores a query parameter cannot widen the result.
 */
export async function listMonitorInstances(os: OpenScaleHttp, filter: MonitorInstanceFilter = {}): Promise<MonitorInstance[]> {
  const res = await os.request({
    path: '/v2/monitor_instances',
    query: {
      monitor_definition_id: filter.monitorDefinitionId,
      'target.target_id': filter.subscriptionId,
      'target.target_type': filter.subscriptionId ? 'subscription' : undefined,
      data_mart_id: filter.dataMartId,
    },
    schema: MonitorInstanceCollection,
  });
  return res.monitor_instances.filter(
    (m) =>
      (!filter.monitorDefinitionId || m.entity.monitor_definition_id === filter.monitorDefinitionId) &&
      (!filter.subscriptionId || (m.entity.target.target_type === 'subscription' && m.entity.target.target_id === filter.subscriptionId)),
  );
}

/** One monitor instance by id; a missing one is a RemoteApiError with status 404. */
export async function getMonitorInstance(os: OpenScaleHttp, id: string): Promise<MonitorInstance> {
  return os.request({ path: `/v2/monitor_instances/${encodeURIComponent(id)}`, schema: MonitorInstance });
}

/** The instance of a definition on a subscription, undefined when none; several is a {@link DuplicateResourceError}. */
export async function findMonitorInstance(os: OpenScaleHttp, monitorDefinitionId: string, subscriptionId: string): Promise<MonitorInstance | undefined> {
  const found = await listMonitorInstances(os, { monitorDefinitionId, subscriptionId });
  if (found.length > 1) {
    throw new DuplicateResourceError(
      'monitor instance',
      `monitor ${monitorDefinitionId} on subscription ${subscriptionId}`,
      found.map((m) => ({ id: m.metadata.id, createdAt: m.metadata.created_at })),
      'Delete the extra ones (DELETE /v2/monitor_instances/{id}).',
    );
  }
  return found[0];
}

/** Polls a monitor instance until it is `active` (`failed` fails with its failure). */
export async function waitForMonitorInstance(os: OpenScaleHttp, id: string, options: WaitOptions = {}): Promise<MonitorInstance> {
  return pollState(
    `monitor instance ${id}`,
    () => getMonitorInstance(os, id),
    (m) => m.entity.status.state,
    ['active'],
    ['failed', 'deleting', 'pending_delete'],
    (m) => failureText(m.entity.status.failure),
    options,
  );
}

/** A definition's metrics by name and by id. */
interface MetricIndex {
  readonly idOf: ReadonlyMap<string, string>;
  readonly nameOf: ReadonlyMap<string, string>;
}

function indexMetrics(definition: MonitorDefinition): MetricIndex {
  return {
    idOf: new Map(definition.entity.metrics.map((m) => [m.name, m.id] as const)),
    nameOf: new Map(definition.entity.metrics.map((m) => [m.id, m.name] as const)),
  };
}

/** Instance threshold overrides for YAML thresholds, metric ids taken from the definition (sorted). */
function toWire(thresholds: ThresholdMap, index: MetricIndex): { metric_id: string; type: 'lower_limit' | 'upper_limit'; value: number }[] {
  return Object.entries(thresholds)
    .map(([name, s]) => ({ metric_id: index.idOf.get(name) as string, type: thresholdType(s.threshold[1] as 'lower' | 'upper'), value: s.threshold[0] as number }))
    .sort((a, b) => (a.metric_id < b.metric_id ? -1 : a.metric_id > b.metric_id ? 1 : a.type < b.type ? -1 : 1));
}

/** An instance's overrides in YAML form, metrics named as in the definition (unknown ids keep the id). */
export function instanceThresholdMap(instance: MonitorInstance, definition: MonitorDefinition): ThresholdMap {
  const index = indexMetrics(definition);
  const out: ThresholdMap = {};
  for (const t of instance.entity.thresholds ?? []) {
    if (typeof t.value === 'number') out[index.nameOf.get(t.metric_id) ?? t.metric_id] = { threshold: [t.value, thresholdDirection(t.type)] };
  }
  return out;
}

function sameWire(current: readonly { metric_id: string; type: string; value?: number }[], wanted: readonly { metric_id: string; type: string; value: number }[]): boolean {
  if (current.length !== wanted.length) return false;
  const have = new Map(current.map((t) => [`${t.metric_id} ${t.type}`, t.value] as const));
  if (have.size !== current.length) return false;
  return wanted.every((w) => {
    const v = have.get(`${w.metric_id} ${w.type}`);
    return typeof v === 'number' && sameNumber(v, w.value);
  });
}

/** What a deployment's monitor instance should look like. */
export interface MonitorInstanceSpec {
  readonly monitorDefinitionId: string;
  readonly subscriptionId: string;
  /** The custom metrics provider (integrated system) OpenScale calls on runs. */
  readonly integratedSystemId: string;
  /** Seconds OpenScale waits for the provider (default {@link DEFAULT_CUSTOM_METRICS_WAIT_SECONDS}). */
  readonly waitTimeSeconds?: number;
  /**
   * Overrides of the definition's default thresholds by metric name (`{ Dice: 20 }` or the YAML
   * form `{ Dice: { threshold: [20, 'lower'] } }`). The instance carries the full effective set
   * (defaults with these applied), so removing an override restores the default.
   */
  readonly thresholds?: Readonly<Record<string, ThresholdOverride>>;
  /** Further instance parameters (kept besides the provider id and wait time). */
  readonly parameters?: Readonly<Record<string, unknown>>;
  /** Default: {@link defaultDataMartId}. */
  readonly dataMartId?: string;
}

/** Options of {@link ensureMonitorInstance}. */
export interface EnsureInstanceOptions extends MutationOptions {
  /** Waiting for `active` after a create or a reconfiguring update. */
  readonly wait?: WaitOptions;
}

/** The result of {@link ensureMonitorInstance}. */
export interface EnsuredInstance extends Ensured<MonitorInstance> {
  /** Per metric, how the thresholds changed (empty when they did not). */
  readonly thresholdChanges: readonly ThresholdChange[];
  /** The effective thresholds the instance has (or will have). */
  readonly thresholds: ThresholdMap;
}

function formatChange(c: ThresholdChange): string {
  const side = (t?: readonly [number, string]) => (t ? `${t[0]} (${t[1]})` : 'none');
  return `${c.metric} ${side(c.before)} → ${side(c.after)}`;
}

/**
 * The monitor instance of a definition on a subscription: created with the provider parameters and
 * thresholds, or brought up to date. Unlike the predecessor (§8.17), changed thresholds are pushed
 * (PATCH `/thresholds`, which reconfigures the instance; the step waits until it is active again)
 * and parameter updates touch only the keys that changed, keeping `run_details`, `last_run_time`
 * and any other parameter. Threshold names are checked against the definition (unknown names are
 * a ValidationError listing the valid ones).
 */
export async function ensureMonitorInstance(os: OpenScaleHttp, spec: MonitorInstanceSpec, options: EnsureInstanceOptions = {}): Promise<EnsuredInstance> {
  const definition = await getMonitorDefinition(os, spec.monitorDefinitionId);
  if (!definition) {
    throw new ValidationError(`monitor definition ${spec.monitorDefinitionId} does not exist in OpenScale: register it first (registerProvider)`, [
      { path: 'monitorDefinitionId', message: 'no such monitor definition' },
    ]);
  }
  const index = indexMetrics(definition);
  const desired = withOverrides(thresholdsFromDefinition(definition.entity.metrics), spec.thresholds ?? {});
  const wire = toWire(desired, index);
  const waitTime = spec.waitTimeSeconds ?? DEFAULT_CUSTOM_METRICS_WAIT_SECONDS;
  const wantedParams: Record<string, unknown> = { ...(spec.parameters ?? {}), custom_metrics_provider_id: spec.integratedSystemId, custom_metrics_wait_time: waitTime };
  const target = `${spec.monitorDefinitionId} on subscription ${spec.subscriptionId}`;

  const existing = await findMonitorInstance(os, spec.monitorDefinitionId, spec.subscriptionId);
  if (!existing) {
    const note = `provider ${spec.integratedSystemId}, wait ${waitTime} s, ${wire.length} thresholds`;
    const all = diffThresholds({}, desired);
    if (options.plan) {
      options.plan.record({ service: 'openscale', action: 'create', resource: 'monitor_instance', target, detail: note });
      return { id: PLANNED_ID, outcome: 'created', planned: true, changes: [note], thresholdChanges: all, thresholds: desired };
    }
    const body: MonitorInstanceRequest = {
      data_mart_id: spec.dataMartId ?? (await defaultDataMartId(os)),
      monitor_definition_id: spec.monitorDefinitionId,
      target: { target_type: 'subscription', target_id: spec.subscriptionId },
      parameters: wantedParams,
      thresholds: wire,
    };
    const created = await os.request({ method: 'POST', path: '/v2/monitor_instances', body, schema: MonitorInstance });
    const ready = await waitForMonitorInstance(os, created.metadata.id, options.wait);
    return { id: created.metadata.id, outcome: 'created', planned: false, resource: ready, changes: [note], thresholdChanges: all, thresholds: desired };
  }

  const ops: JsonPatch = [];
  const changes: string[] = [];
  const params = (existing.entity.parameters ?? undefined) as Record<string, unknown> | undefined;
  if (!params) {
    ops.push({ op: 'add', path: '/parameters', value: wantedParams });
    changes.push('parameters set');
  } else {
    for (const [key, value] of Object.entries(wantedParams)) {
      if (JSON.stringify(params[key]) === JSON.stringify(value)) continue;
      // `add` on an object member replaces it when present: only this key changes.
      ops.push({ op: 'add', path: `/parameters/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, value });
      changes.push(`parameters.${key} ${params[key] === undefined ? '(unset)' : JSON.stringify(params[key])} → ${JSON.stringify(value)}`);
    }
  }
  const current = existing.entity.thresholds ?? [];
  const thresholdChanges = sameWire(current, wire) ? [] : diffThresholds(instanceThresholdMap(existing, definition), desired);
  const thresholdsChanged = !sameWire(current, wire);
  if (thresholdsChanged) {
    ops.push({ op: existing.entity.thresholds ? 'replace' : 'add', path: '/thresholds', value: wire });
    changes.push(`thresholds: ${thresholdChanges.length ? thresholdChanges.map(formatChange).join(', ') : 'rewritten (duplicate or malformed entries)'}`);
  }
  if (ops.length === 0) return { id: existing.metadata.id, outcome: 'existing', planned: false, resource: existing, changes: [], thresholdChanges: [], thresholds: desired };
  if (options.plan) {
    options.plan.record({ service: 'openscale', action: 'update', resource: 'monitor_instance', target, detail: changes.join('; ') });
    return { id: existing.metadata.id, outcome: 'updated', planned: true, resource: existing, changes, thresholdChanges, thresholds: desired };
  }
  // Parameters alone are metadata; new thresholds make OpenScale reconfigure the instance.
  const patched = await os.request({
    method: 'PATCH',
    path: `/v2/monitor_instances/${encodeURIComponent(existing.metadata.id)}`,
    query: { update_metadata_only: thresholdsChanged ? 'false' : 'true' },
    body: ops,
    idempotent: true,
    schema: MonitorInstance,
  });
  const ready = patched.entity.status.state === 'active' ? patched : await waitForMonitorInstance(os, existing.metadata.id, options.wait);
  return { id: existing.metadata.id, outcome: 'updated', planned: false, resource: ready, changes, thresholdChanges, thresholds: desired };
}

/** Deletes a monitor instance (with its runs); `force` also drops its measurements. */
export async function deleteMonitorInstance(os: OpenScaleHttp, id: string, options: MutationOptions & { force?: boolean } = {}): Promise<void> {
  if (options.plan) {
    const m = await getMonitorInstance(os, id);
    options.plan.record({ service: 'openscale', action: 'delete', resource: 'monitor_instance', target: `${m.entity.monitor_definition_id} on ${m.entity.target.target_type} ${m.entity.target.target_id}`, detail: `id ${id}` });
    return;
  }
  await os.request({ method: 'DELETE', path: `/v2/monitor_instances/${encodeURIComponent(id)}`, query: { force: options.force ? 'true' : undefined } });
}
