/**
 * Runbook §3.3: a deployment's monitor thresholds are the monitor definition's defaults (read from
 * OpenScale when the definition is registered, else the project's built-in definition, which is
 * what the provider registration would create) with the deployment's overrides applied, then
 * linted for the DeepLIIF unit mistakes (0–100 vs 0–1).
 */
import { ValidationError } from '../errors';
import { getMonitorDefinition } from '../openscale/monitor-definitions';
import type { OpenScaleHttp } from '../openscale/common';
import { defaultThresholds, findMonitorSpec, withOverrides, type ThresholdOverride } from '../thresholds/defaults';
import { lintThresholds, type ThresholdFinding } from '../thresholds/lint';
import type { ThresholdMap } from '../thresholds/schema';
import { thresholdsFromDefinition } from '../thresholds/wire';
import { formatNumber, textTable } from './report';

/** The thresholds of one monitor of the deployment. */
export interface MonitorThresholds {
  readonly monitorId: string;
  /** Where the defaults came from. */
  readonly source: 'openscale' | 'built-in';
  readonly defaults: ThresholdMap;
  /** The effective thresholds (defaults with the overrides applied). */
  readonly thresholds: ThresholdMap;
  /** Names of the metrics the overrides changed. */
  readonly overridden: readonly string[];
  readonly findings: readonly ThresholdFinding[];
}

/** Overrides per monitor id, per metric name: a bare number keeps the default's direction. */
export type ThresholdOverrides = Readonly<Record<string, Readonly<Record<string, ThresholdOverride>>>>;

/**
 * The thresholds of each monitor in `monitorIds`. `os` undefined skips OpenScale (built-in defaults
 * only). Overrides for a monitor that is not in the list, or for a metric the monitor does not
 * have, are a ValidationError naming them; unit findings are returned, not thrown (see
 * {@link assertThresholdsUsable}).
 */
export async function resolveMonitorThresholds(os: OpenScaleHttp | undefined, monitorIds: readonly string[], overrides: ThresholdOverrides = {}): Promise<MonitorThresholds[]> {
  const stray = Object.keys(overrides).filter((id) => !monitorIds.includes(id));
  if (stray.length) {
    throw new ValidationError(`threshold overrides name monitors the deployment does not use: ${stray.join(', ')} (monitors: ${monitorIds.join(', ') || 'none'})`, stray.map((id) => ({ path: id, message: 'not a monitor of this deployment' })));
  }
  const out: MonitorThresholds[] = [];
  for (const id of monitorIds) {
    const definition = os ? await getMonitorDefinition(os, id) : undefined;
    let defaults: ThresholdMap;
    let source: MonitorThresholds['source'];
    if (definition) {
      defaults = thresholdsFromDefinition(definition.entity.metrics);
      source = 'openscale';
    } else {
      const spec = findMonitorSpec(id);
      if (!spec) {
        throw new ValidationError(`monitor ${id}: no such monitor definition in OpenScale and not a monitor this project ships (segmentation_metrics, generic_metrics)`, [
          { path: id, message: 'unknown monitor' },
        ]);
      }
      defaults = defaultThresholds(spec);
      source = 'built-in';
    }
    const own = overrides[id] ?? {};
    let thresholds: ThresholdMap;
    try {
      thresholds = withOverrides(defaults, own);
    } catch (err) {
      if (err instanceof ValidationError) throw new ValidationError(`${id}: ${err.message}`, err.issues.map((i) => ({ path: `${id}.${i.path}`, message: i.message })));
      throw err;
    }
    out.push({ monitorId: id, source, defaults, thresholds, overridden: Object.keys(own), findings: lintThresholds(id, thresholds) });
  }
  return out;
}

/**
 * Throws a ValidationError when a monitor's thresholds have an error finding, or (unless
 * `allowWarnings`) a warning: warnings are the likely unit mistakes (`precision_positive: 60`), and a
 * pipeline should not put them into production quietly.
 */
export function assertThresholdsUsable(monitors: readonly MonitorThresholds[], opts: { allowWarnings?: boolean } = {}): void {
  const bad = monitors.flatMap((m) => m.findings.filter((f) => f.severity === 'error' || !opts.allowWarnings).map((f) => ({ m, f })));
  if (bad.length === 0) return;
  const errors = bad.some((b) => b.f.severity === 'error');
  throw new ValidationError(
    `thresholds rejected: ${bad.map(({ m, f }) => `${m.monitorId}.${f.metric || '(all)'}: ${f.message}`).join('; ')}` +
      (errors ? '' : '. If these values are meant, set the parameter allow_threshold_warnings to true'),
    bad.map(({ m, f }) => ({ path: `${m.monitorId}.${f.metric}`, message: f.message })),
  );
}

/** The thresholds per monitor id, as the deployment entry stores them. */
export function thresholdsById(monitors: readonly MonitorThresholds[]): Record<string, ThresholdMap> {
  const out: Record<string, ThresholdMap> = {};
  for (const m of monitors) out[m.monitorId] = m.thresholds;
  return out;
}

/** A table: monitor, metric, default, value (`*` when overridden), direction, lint findings. */
export function thresholdTable(monitors: readonly MonitorThresholds[]): string {
  const rows: string[][] = [];
  for (const m of monitors) {
    for (const [metric, s] of Object.entries(m.thresholds)) {
      const d = m.defaults[metric];
      const findings = m.findings.filter((f) => f.metric === metric).map((f) => `${f.severity.toUpperCase()}: ${f.message}`);
      rows.push([m.monitorId, metric, d ? formatNumber(d.threshold[0]) : '', `${formatNumber(s.threshold[0])}${m.overridden.includes(metric) ? ' *' : ''}`, s.threshold[1] as string, findings.join(' ')]);
    }
  }
  const sources = monitors.map((m) => `${m.monitorId}: defaults from ${m.source === 'openscale' ? 'the OpenScale monitor definition' : 'the built-in definition (not registered in OpenScale yet)'}`);
  return `${textTable(['monitor', 'metric', 'default', 'value', 'limit', 'lint'], rows)}\n(* = overridden)\n${sources.join('\n')}`;
}
