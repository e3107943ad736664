import { ValidationError } from '../errors';
import { BUILTIN_MONITORS, monitorIdFromName, type MonitorSpec } from '../monitors/definitions';
import type { ThresholdMap, ThresholdSetting } from './schema';

/**
 * The built-in monitor an id refers to. Accepts the plain id (`segmentation_metrics`), a versioned id
 * as deployed on CPD 4.5 (`segmentation_metrics_v22`, predecessor §8.8) or a display name
 * (`Segmentation Metrics v22`). Undefined for monitors this project does not ship.
 */
export function findMonitorSpec(idOrName: string): MonitorSpec | undefined {
  const id = monitorIdFromName(idOrName);
  return BUILTIN_MONITORS[id] ?? BUILTIN_MONITORS[id.replace(/_v\d+$/, '')];
}

/** The thresholds a monitor definition declares, in the runbook's YAML form, in definition order. */
export function defaultThresholds(monitor: MonitorSpec): ThresholdMap {
  const out: ThresholdMap = {};
  for (const m of monitor.metrics) out[m.name] = { threshold: [m.defaultThreshold.value, m.defaultThreshold.direction] };
  return out;
}

/** An override: a bare number keeps the base direction; the full form sets both. */
export type ThresholdOverride = number | ThresholdSetting;

/** A case-insensitive near match, to suggest `Dice` for `dice`. */
export function suggestName(name: string, valid: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  return valid.find((v) => v.toLowerCase() === lower) ?? valid.find((v) => v.toLowerCase().replace(/_/g, '') === lower.replace(/[_\s-]/g, ''));
}

/**
 * A copy of `base` with some values replaced. Every override must name a metric of `base`:
 * an unknown name is an error that lists the valid ones (OpenScale would otherwise reject the
 * instance, or silently keep the default). Neither argument is modified.
 */
export function withOverrides(base: ThresholdMap, overrides: Readonly<Record<string, ThresholdOverride>>): ThresholdMap {
  const valid = Object.keys(base);
  const issues: { path: string; message: string }[] = [];
  const out: ThresholdMap = {};
  for (const [name, setting] of Object.entries(base)) out[name] = { threshold: [setting.threshold[0], setting.threshold[1]] };
  for (const [name, override] of Object.entries(overrides)) {
    if (!Object.prototype.hasOwnProperty.call(base, name)) {
      const hint = suggestName(name, valid);
      issues.push({ path: name, message: `unknown metric "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; valid metrics: ${valid.join(', ')}` });
      continue;
    }
    if (typeof override === 'number') {
      if (!Number.isFinite(override)) {
        issues.push({ path: name, message: `expected a finite number, got ${override}` });
        continue;
      }
      out[name] = { threshold: [override, base[name].threshold[1]] };
    } else {
      out[name] = { threshold: [override.threshold[0], override.threshold[1]] };
    }
  }
  if (issues.length) {
    throw new ValidationError(`threshold overrides: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  return out;
}
