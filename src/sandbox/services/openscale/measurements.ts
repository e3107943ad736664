import { MeasurementRequest, type MeasurementEntity, type MeasurementMetric } from '../../../lib/contracts/openscale';
import { badRequest, notFound } from '../../errors';
import { reply, type RequestContext } from '../../http/router';
import { creation, findIn, insert, instanceOf, intParam, lookupIn, matchesCsv, V2, type OpenScaleState } from './context';
import type { MeasurementDoc, MonitorDefinitionDoc, MonitorInstanceDoc } from './model';
import type { RunDriver } from './runs';
import { measurementView } from './views';

/**
 * The limits of a metric: the instance's threshold override, else the definition's default
 * (ibm-api-contracts.md §5.10).
 */
export function limitsOf(metricId: string, mi: MonitorInstanceDoc, definition: MonitorDefinitionDoc): { lower_limit?: number; upper_limit?: number } {
  const out: { lower_limit?: number; upper_limit?: number } = {};
  const metric = definition.entity.metrics.find((m) => m.id === metricId);
  for (const type of ['lower_limit', 'upper_limit'] as const) {
    const override = (mi.entity.thresholds ?? []).find((t) => t.metric_id === metricId && t.type === type && typeof t.value === 'number');
    const fallback = (metric?.thresholds ?? []).find((t) => t.type === type && typeof t.default === 'number');
    const value = override?.value ?? fallback?.default;
    if (typeof value === 'number') out[type] = value;
  }
  return out;
}

/** A metric breaks its limits when below `lower_limit` or above `upper_limit`. */
export function isIssue(m: MeasurementMetric): boolean {
  return (m.lower_limit !== undefined && m.value < m.lower_limit) || (m.upper_limit !== undefined && m.value > m.upper_limit);
}

/**
 * The stored entity of each posted measurement: keys resolved to metric (or tag) ids through the
 * definition, limits attached, issues counted. 400 naming `[i].metrics[j].<key>` for an unknown key
 * or a non-numeric metric value.
 */
export function measurementEntities(body: MeasurementRequest, mi: MonitorInstanceDoc, definition: MonitorDefinitionDoc): MeasurementEntity[] {
  const metricNames = definition.entity.metrics.map((m) => m.name).join(', ');
  return body.map((item, i) => {
    const values = item.metrics.map((dict, j) => {
      const metrics: MeasurementMetric[] = [];
      const tags: { id: string; value: string }[] = [];
      for (const [key, value] of Object.entries(dict)) {
        const field = `[${i}].metrics[${j}].${key}`;
        const metric = definition.entity.metrics.find((m) => m.id === key) ?? definition.entity.metrics.find((m) => m.name === key);
        if (metric) {
          if (typeof value !== 'number') throw badRequest(`${field}: expected a number for metric '${metric.name}', got ${JSON.stringify(value)}`);
          if (metrics.some((m) => m.id === metric.id)) throw badRequest(`${field}: metric '${metric.id}' is given twice (by name and by id)`);
          const m: MeasurementMetric = { id: metric.id, value, ...limitsOf(metric.id, mi, definition) };
          metrics.push(m);
          continue;
        }
        const tag = definition.entity.tags.find((t) => t.id === key) ?? definition.entity.tags.find((t) => t.name === key);
        if (tag) {
          tags.push({ id: tag.id, value: String(value) });
          continue;
        }
        throw badRequest(`${field}: '${key}' is not a metric of monitor definition '${definition.id}' (metrics: ${metricNames})`);
      }
      return { metrics, tags };
    });
    const entity: MeasurementEntity = {
      timestamp: item.timestamp,
      issue_count: values.reduce((n, v) => n + v.metrics.filter(isIssue).length, 0),
      values,
      target: mi.entity.target,
      monitor_instance_id: mi.id,
      monitor_definition_id: mi.entity.monitor_definition_id,
    };
    if (item.run_id !== undefined) entity.run_id = item.run_id;
    if (item.asset_revision !== undefined) entity.asset_revision = item.asset_revision;
    if (item.sources !== undefined) entity.sources = item.sources;
    return entity;
  });
}

/** Newest timestamp first (then newest stored first). */
function newestFirst(a: MeasurementDoc, b: MeasurementDoc): number {
  const d = Date.parse(b.entity.timestamp) - Date.parse(a.entity.timestamp);
  if (d !== 0) return d;
  return a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.key < b.key ? 1 : -1;
}

function timeParam(ctx: RequestContext<unknown, unknown>, name: string): number | undefined {
  const v = ctx.searchParams.get(name);
  if (v === null || v === '') return undefined;
  const t = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(t)) throw badRequest(`query.${name}: expected an RFC 3339 date-time such as 2024-05-01T00:00:00Z, got '${v}'`);
  return t;
}

function rejectFilter(ctx: RequestContext<unknown, unknown>): void {
  if (ctx.searchParams.get('filter')) throw badRequest('query.filter: tag filters are not supported by the sandbox (it stores no tag-filterable measurement tables)', 'unsupported_parameter');
}

function inRange(doc: MeasurementDoc, start: number | undefined, end: number | undefined): boolean {
  const t = Date.parse(doc.entity.timestamp);
  return (start === undefined || t >= start) && (end === undefined || t <= end);
}

/** Measurements: publish, query per instance, get one, and query across instances (§5.10). */
export function registerMeasurementRoutes(state: OpenScaleState, driver: RunDriver): void {
  const { host } = state;
  const MEASUREMENTS = `${V2}/monitor_instances/:mi/measurements`;

  host.post(MEASUREMENTS, { body: MeasurementRequest }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const mi = findIn(state.instances, instance, ctx.params.mi!, 'monitor instance');
      const definition = lookupIn(state.definitions, instance, mi.entity.monitor_definition_id);
      if (!definition) throw notFound('monitor definition', mi.entity.monitor_definition_id);
      const entities = measurementEntities(ctx.body, mi, definition); // validates all before storing any
      const created: MeasurementDoc[] = [];
      for (const entity of entities) {
        created.push(await insert(state.measurements, { ...creation(instance, ctx), monitor_instance_id: mi.id, entity }));
      }
      for (const runId of new Set(entities.map((e) => e.run_id).filter((r): r is string => r !== undefined))) await driver.onMeasurement(instance, mi.id, runId);
      return reply.json(202, created.map((m) => measurementView(m, ctx.baseUrl)));
    }),
  );

  host.get(MEASUREMENTS, (ctx) => {
    const instance = instanceOf(state, ctx);
    const mi = findIn(state.instances, instance, ctx.params.mi!, 'monitor instance');
    rejectFilter(ctx);
    const runIds = ctx.searchParams.get('run_id') ?? undefined;
    const start = timeParam(ctx, 'start');
    const end = timeParam(ctx, 'end');
    if (!runIds) {
      const missing = [start === undefined ? 'query.start' : '', end === undefined ? 'query.end' : ''].filter((x) => x !== '');
      if (missing.length > 0) throw badRequest(`${missing.join(' and ')}: required unless query.run_id is given (RFC 3339 date-times)`);
    }
    if (start !== undefined && end !== undefined && start > end) throw badRequest('query.start: must not be after query.end');
    const limit = intParam(ctx, 'limit', 100, 1, 1000);
    const offset = intParam(ctx, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const all = state.measurements
      .find((m) => m.instance === instance && m.monitor_instance_id === mi.id && matchesCsv(m.entity.run_id, runIds) && inRange(m, start, end))
      .sort(newestFirst);
    return reply.json(200, {
      ...(start !== undefined ? { start: ctx.searchParams.get('start') } : {}),
      ...(end !== undefined ? { end: ctx.searchParams.get('end') } : {}),
      limit,
      offset,
      total_count: all.length,
      measurements: all.slice(offset, offset + limit).map((m) => measurementView(m, ctx.baseUrl)),
    });
  });

  host.get(`${MEASUREMENTS}/:id`, (ctx) => {
    const instance = instanceOf(state, ctx);
    const mi = findIn(state.instances, instance, ctx.params.mi!, 'monitor instance');
    const doc = state.measurements.find((m) => m.instance === instance && m.monitor_instance_id === mi.id && m.id === ctx.params.id)[0];
    if (!doc) throw notFound('measurement', ctx.params.id!);
    const view = measurementView(doc, ctx.baseUrl, 'full');
    const metricIds = ctx.searchParams.get('metric_id') ?? undefined;
    if (metricIds) view.entity.values = view.entity.values.map((v) => ({ ...v, metrics: v.metrics.filter((m) => matchesCsv(m.id, metricIds)) }));
    return reply.json(200, view);
  });

  host.get(`${V2}/measurements`, (ctx) => {
    const instance = instanceOf(state, ctx);
    rejectFilter(ctx);
    const q = (k: string) => ctx.searchParams.get(k) ?? undefined;
    const format = q('format') ?? 'compact';
    if (format !== 'compact' && format !== 'full') throw badRequest(`query.format: expected 'compact' or 'full', got '${format}'`);
    const recent = ctx.searchParams.has('recent_count') ? intParam(ctx, 'recent_count', 1, 1, 10000) : undefined;
    const start = timeParam(ctx, 'start');
    const end = timeParam(ctx, 'end');
    const all = state.measurements
      .find(
        (m) =>
          m.instance === instance &&
          matchesCsv(m.entity.target?.target_id, q('target_id')) &&
          matchesCsv(m.entity.target?.target_type, q('target_type')) &&
          matchesCsv(m.entity.monitor_definition_id, q('monitor_definition_id')) &&
          matchesCsv(m.monitor_instance_id, q('monitor_instance_id')) &&
          inRange(m, start, end),
      )
      .sort(newestFirst);
    const picked = recent === undefined ? all : all.slice(0, recent);
    return reply.json(200, { measurements: picked.map((m) => measurementView(m, ctx.baseUrl, format)) });
  });
}
