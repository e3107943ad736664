/**
 * Which computation a run gets, chosen from the `custom_monitor_id` OpenScale sends (never a
 * hard-coded id, predecessor §8.8). By default an id starting with `segmentation_metrics`
 * (`segmentation_metrics`, `segmentation_metrics_v22`) is the segmentation computation and one
 * starting with `generic_metrics` the image counts. Exact ids may be mapped explicitly, and win.
 */
import { RunbookError } from '../errors';
import { GENERIC_MONITOR, SEGMENTATION_MONITOR, type MonitorSpec } from '../monitors/definitions';

/** The computations the provider has. */
export type MonitorKind = 'segmentation' | 'generic';

/** The metric definitions of each computation (what it publishes). */
export const MONITOR_SPECS: Readonly<Record<MonitorKind, MonitorSpec>> = { segmentation: SEGMENTATION_MONITOR, generic: GENERIC_MONITOR };

/** How monitor ids map to computations. */
export interface MonitorKindRules {
  /** Exact monitor ids (checked first). */
  readonly exact?: Readonly<Record<string, MonitorKind>>;
  /** Id prefixes, longest first wins. */
  readonly prefixes?: Readonly<Record<string, MonitorKind>>;
}

/**
 * The runbook's two monitors by id prefix, so that definitions registered under a suffixed name
 * (`segmentation_metrics_v2`) still reach their computation.
 */
export const DEFAULT_MONITOR_KIND_RULES: MonitorKindRules = {
  prefixes: { [SEGMENTATION_MONITOR.id]: 'segmentation', [GENERIC_MONITOR.id]: 'generic' },
};

/** The computation for a monitor id, or a RunbookError listing the known ids and prefixes. */
export function monitorKindFor(monitorId: string, rules: MonitorKindRules = DEFAULT_MONITOR_KIND_RULES): MonitorKind {
  const exact = rules.exact?.[monitorId];
  if (exact) return exact;
  const prefixes = Object.entries(rules.prefixes ?? {}).sort((a, b) => b[0].length - a[0].length);
  const hit = prefixes.find(([p]) => monitorId.startsWith(p));
  if (hit) return hit[1];
  const known = [...Object.keys(rules.exact ?? {}), ...prefixes.map(([p]) => `${p}*`)];
  throw new RunbookError('validation', `no metric computation for monitor id "${monitorId}": this provider computes ${known.join(', ') || 'nothing'} (map other ids with monitorKinds)`);
}
