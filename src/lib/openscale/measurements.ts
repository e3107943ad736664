import { Measurement, MeasurementCollection, MeasurementCreateResponse, type MeasurementRequest } from '../contracts/openscale';
import { ValidationError } from '../errors';
import type { OpenScaleHttp } from './common';

/**
 * Posts measurements of a monitor instance. Metric keys may be the definition's metric names or
 * ids (OpenScale resolves names). Not retried: a repeated POST would store the values twice.
 */
export async function publishMeasurements(os: OpenScaleHttp, instanceId: string, items: MeasurementRequest): Promise<Measurement[]> {
  return os.request({ method: 'POST', path: `/v2/monitor_instances/${encodeURIComponent(instanceId)}/measurements`, body: items, schema: MeasurementCreateResponse });
}

/**
 * The newest measurement of a monitor on a subscription
 * (`GET /v2/measurements?target_id=…&target_type=subscription&monitor_definition_id=…&recent_count=1`),
 * or undefined when it has none.
 */
export async function latestMeasurement(os: OpenScaleHttp, subscriptionId: string, monitorDefinitionId: string): Promise<Measurement | undefined> {
  const res = await os.request({
    path: '/v2/measurements',
    query: { target_id: subscriptionId, target_type: 'subscription', monitor_definition_id: monitorDefinitionId, recent_count: 1 },
    schema: MeasurementCollection,
  });
  return res.measurements.find((m) => m.entity.monitor_definition_id === undefined || m.entity.monitor_definition_id === monitorDefinitionId);
}

/** Options of {@link measurementHistory}. */
export interface HistoryOptions {
  readonly start: Date;
  readonly end: Date;
  /** Only measurements of these runs. */
  readonly runIds?: readonly string[];
  /** Page size (default 100). */
  readonly pageSize?: number;
}

/** Every measurement of an instance with a timestamp in [start, end], newest first (all pages). */
export async function measurementHistory(os: OpenScaleHttp, instanceId: string, options: HistoryOptions): Promise<Measurement[]> {
  if (!(options.start instanceof Date) || Number.isNaN(options.start.getTime()) || !(options.end instanceof Date) || Number.isNaN(options.end.getTime())) {
    throw new ValidationError('measurement history: start and end must be valid Dates', [{ path: 'start/end', message: 'expected Dates' }]);
  }
  if (options.start > options.end) throw new ValidationError('measurement history: start is after end', [{ path: 'start', message: 'after end' }]);
  const limit = options.pageSize ?? 100;
  const out: Measurement[] = [];
  for (let offset = 0; ; offset += limit) {
    const page = await os.request({
      path: `/v2/monitor_instances/${encodeURIComponent(instanceId)}/measurements`,
      query: { start: options.start.toISOString(), end: options.end.toISOString(), run_id: options.runIds?.length ? options.runIds.join(',') : undefined, limit, offset },
      schema: MeasurementCollection,
    });
    out.push(...page.measurements);
    const total = page.total_count;
    if (page.measurements.length < limit || (total !== undefined && offset + limit >= total)) break;
  }
  return out;
}
