import type { Measurement, MonitorDefinition, MonitoringRun } from '../contracts/openscale';
import type { OpenScaleHttp } from './common';
import { latestMeasurement } from './measurements';
import { getMonitorDefinition } from './monitor-definitions';
import { listMonitorInstances } from './monitor-instances';
import { latestRun, runFailureMessage } from './runs';

/** One metric of a measurement with its limits and whether it breaks them. */
export interface MetricStatus {
  readonly id: string;
  /** The definition's name for it (the id when the definition does not list it). */
  readonly name: string;
  readonly value: number;
  readonly lowerLimit?: number;
  readonly upperLimit?: number;
  /** Set when the value is below the lower limit or above the upper one. */
  readonly breach?: 'below lower limit' | 'above upper limit';
}

/** The last run of a monitor instance. */
export interface RunSummary {
  readonly id: string;
  readonly state: MonitoringRun['entity']['status']['state'];
  readonly queuedAt?: string;
  readonly startedAt?: string;
  readonly completedAt?: string;
  /** Why it failed (state `error`). */
  readonly error?: string;
}

/** The newest measurement of a monitor. */
export interface MeasurementSummary {
  readonly id: string;
  readonly timestamp: string;
  readonly runId?: string;
  /** OpenScale's count of metrics beyond their limits. */
  readonly issueCount: number;
  readonly metrics: readonly MetricStatus[];
}

/** One monitor instance of a subscription. */
export interface MonitorStatus {
  readonly instanceId: string;
  readonly monitorDefinitionId: string;
  readonly monitorName?: string;
  readonly instanceState: string;
  readonly lastRun?: RunSummary;
  readonly measurement?: MeasurementSummary;
  /** Metrics of the newest measurement that break their limits. */
  readonly breaches: number;
}

/** Every monitor of a subscription. */
export interface SubscriptionStatus {
  readonly subscriptionId: string;
  readonly monitors: readonly MonitorStatus[];
  /** Breaches over all monitors' newest measurements. */
  readonly breaches: number;
  /** Monitors whose last run ended in error. */
  readonly failedRuns: number;
}

/** `below lower limit` / `above upper limit` / undefined. */
export function breachOf(value: number, lowerLimit?: number, upperLimit?: number): MetricStatus['breach'] {
  if (lowerLimit !== undefined && value < lowerLimit) return 'below lower limit';
  if (upperLimit !== undefined && value > upperLimit) return 'above upper limit';
  return undefined;
}

/** A measurement's metrics with their names (through the definition), limits and breaches. */
export function summarizeMeasurement(m: Measurement, definition?: MonitorDefinition): MeasurementSummary {
  const names = new Map((definition?.entity.metrics ?? []).map((x) => [x.id, x.name] as const));
  const metrics: MetricStatus[] = [];
  for (const v of m.entity.values) {
    for (const x of v.metrics) {
      const s: { -readonly [K in keyof MetricStatus]: MetricStatus[K] } = { id: x.id, name: names.get(x.id) ?? x.id, value: x.value };
      if (x.lower_limit !== undefined) s.lowerLimit = x.lower_limit;
      if (x.upper_limit !== undefined) s.upperLimit = x.upper_limit;
      const breach = breachOf(x.value, x.lower_limit, x.upper_limit);
      if (breach) s.breach = breach;
      metrics.push(s);
    }
  }
  return { id: m.metadata.id, timestamp: m.entity.timestamp, runId: m.entity.run_id, issueCount: m.entity.issue_count, metrics };
}

function summarizeRun(run: MonitoringRun): RunSummary {
  const s = run.entity.status;
  return { id: run.metadata.id, state: s.state, queuedAt: s.queued_at, startedAt: s.started_at, completedAt: s.completed_at, error: runFailureMessage(run) };
}

/**
 * The monitoring status of a subscription: for each monitor instance on it, the last run (state,
 * times, error) and the newest measurement with every metric's value, limits and breach. The
 * predecessor's `monitor status` (predecessor §6.6), with breaches counted per metric.
 */
export async function monitorStatus(os: OpenScaleHttp, subscriptionId: string): Promise<SubscriptionStatus> {
  const instances = await listMonitorInstances(os, { subscriptionId });
  const monitors = await Promise.all(
    instances.map(async (mi): Promise<MonitorStatus> => {
      const definitionId = mi.entity.monitor_definition_id;
      const [definition, run, measurement] = await Promise.all([
        getMonitorDefinition(os, definitionId),
        latestRun(os, mi.metadata.id),
        latestMeasurement(os, subscriptionId, definitionId),
      ]);
      const summary = measurement ? summarizeMeasurement(measurement, definition) : undefined;
      return {
        instanceId: mi.metadata.id,
        monitorDefinitionId: definitionId,
        monitorName: definition?.entity.name,
        instanceState: mi.entity.status.state,
        lastRun: run ? summarizeRun(run) : undefined,
        measurement: summary,
        breaches: summary ? summary.metrics.filter((x) => x.breach).length : 0,
      };
    }),
  );
  monitors.sort((a, b) => (a.monitorDefinitionId < b.monitorDefinitionId ? -1 : 1));
  return {
    subscriptionId,
    monitors,
    breaches: monitors.reduce((n, m) => n + m.breaches, 0),
    failedRuns: monitors.filter((m) => m.lastRun?.state === 'error').length,
  };
}
