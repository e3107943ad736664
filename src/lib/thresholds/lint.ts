import type { MetricSpec, MonitorSpec } from '../monitors/definitions';
import { findMonitorSpec, suggestName } from './defaults';

/** One lint result. Errors make the thresholds unusable; warnings are probable mistakes. */
export interface ThresholdFinding {
  /** The metric name as written ('' for findings about the whole mapping). */
  readonly metric: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Multiplication without binary noise: 0.6 × 100 → 60, not 60.00000000000001. */
function scaled(value: number, factor: number): number {
  return Number((value * factor).toPrecision(12));
}

function unitFindings(metric: MetricSpec, value: number): ThresholdFinding[] {
  const name = metric.name;
  switch (metric.unit) {
    case 'count':
      if (value < 0) return [{ metric: name, severity: 'error', message: `${name} is a count: a threshold of ${value} is negative` }];
      if (!Number.isInteger(value)) return [{ metric: name, severity: 'warning', message: `${name} is a count (a whole number): ${value} is not` }];
      return [];
    case 'percent':
      if (value < 0 || value > 100) return [{ metric: name, severity: 'error', message: `${name} is a percentage (0–100): ${value} is out of range` }];
      if (value > 0 && value <= 1) {
        return [{ metric: name, severity: 'warning', message: `${name} is a percentage (0–100) but ${value} looks like a fraction (0–1); did you mean ${scaled(value, 100)}?` }];
      }
      return [];
    case 'fraction':
      if (value < 0) return [{ metric: name, severity: 'error', message: `${name} is a fraction (0–1): ${value} is negative` }];
      if (value > 100) return [{ metric: name, severity: 'error', message: `${name} is a fraction (0–1): ${value} is out of range` }];
      if (value > 1) {
        return [{ metric: name, severity: 'warning', message: `${name} is a fraction (0–1) but ${value} looks like a percentage (0–100); did you mean ${scaled(value, 0.01)}?` }];
      }
      return [];
  }
}

/**
 * Checks a monitor's thresholds in the YAML form `{ metric: { threshold: [value, 'lower'|'upper'] } }`.
 *
 * Errors: a malformed entry, a non-numeric or non-finite value, a metric the monitor does not have,
 * a negative count, a value outside its unit's range. Warnings: likely unit mistakes of the DeepLIIF
 * segmentation metrics (unsuffixed metrics are percentages 0–100, `_positive`/`_negative` ones are
 * fractions 0–1, so `precision: 0.6` and `precision_positive: 60` are flagged), fractional counts, and a
 * direction opposite to the definition's default. For a monitor this project does not know only the
 * form is checked (and one warning says so).
 *
 * @param monitor a built-in monitor id (versioned ids like `segmentation_metrics_v22` work) or a spec.
 * @param thresholds the value to check, as read from YAML (anything).
 */
export function lintThresholds(monitor: string | MonitorSpec, thresholds: unknown): ThresholdFinding[] {
  const spec = typeof monitor === 'string' ? findMonitorSpec(monitor) : monitor;
  const findings: ThresholdFinding[] = [];
  if (!spec) {
    findings.push({ metric: '', severity: 'warning', message: `monitor "${String(monitor)}" is not a built-in monitor: metric names and units were not checked` });
  }
  if (thresholds === null || typeof thresholds !== 'object' || Array.isArray(thresholds)) {
    findings.push({ metric: '', severity: 'error', message: `expected a mapping of metric name to { threshold: [value, lower|upper] }, got ${show(thresholds)}` });
    return findings;
  }
  const metrics = new Map((spec?.metrics ?? []).map((m) => [m.name, m] as const));
  const valid = [...metrics.keys()];
  for (const [name, setting] of Object.entries(thresholds as Record<string, unknown>)) {
    const metric = metrics.get(name);
    if (spec && !metric) {
      const hint = suggestName(name, valid);
      findings.push({
        metric: name,
        severity: 'error',
        message: `unknown metric "${name}" for monitor ${spec.id}${hint ? ` (did you mean "${hint}"?)` : ''}; valid metrics: ${valid.join(', ')}`,
      });
    }
    const pair = setting !== null && typeof setting === 'object' && !Array.isArray(setting) ? (setting as Record<string, unknown>).threshold : undefined;
    if (!Array.isArray(pair) || pair.length !== 2) {
      findings.push({ metric: name, severity: 'error', message: `${name}: expected { threshold: [value, 'lower' | 'upper'] }, got ${show(setting)}` });
      continue;
    }
    const extra = Object.keys(setting as object).filter((k) => k !== 'threshold');
    if (extra.length) findings.push({ metric: name, severity: 'error', message: `${name}: unknown key ${extra.map((k) => `"${k}"`).join(', ')}; only "threshold" is allowed` });
    const [value, direction] = pair as [unknown, unknown];
    if (direction !== 'lower' && direction !== 'upper') {
      findings.push({ metric: name, severity: 'error', message: `${name}: direction must be 'lower' or 'upper', got ${show(direction)}` });
    } else if (metric && direction !== metric.defaultThreshold.direction) {
      findings.push({
        metric: name,
        severity: 'warning',
        message: `${name}: direction '${direction}' is the opposite of the definition's '${metric.defaultThreshold.direction}' (an issue would be raised when the value is ${direction === 'lower' ? 'below' : 'above'} ${String(value)})`,
      });
    }
    if (typeof value !== 'number') {
      findings.push({ metric: name, severity: 'error', message: `${name}: threshold value must be a number, got ${show(value)}` });
      continue;
    }
    if (!Number.isFinite(value)) {
      findings.push({ metric: name, severity: 'error', message: `${name}: threshold value must be a finite number, got ${value}` });
      continue;
    }
    if (metric) findings.push(...unitFindings(metric, value));
  }
  return findings;
}

/** True when no finding is an error. */
export function thresholdsUsable(findings: readonly ThresholdFinding[]): boolean {
  return findings.every((f) => f.severity !== 'error');
}
