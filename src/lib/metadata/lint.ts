import { lintThresholds, type ThresholdFinding } from '../thresholds/lint';
import { formatYamlPath } from './yaml-issues';

/** A threshold finding located in a metadata document. */
export interface LocatedFinding extends ThresholdFinding {
  /** YAML path of the metric, e.g. `<asset>.openscale_custom_metric_provider.segmentation_metrics.thresholds.precision`. */
  readonly path: string;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Lints the thresholds of every monitor of every entry of a deployment metadata document (see
 * {@link lintThresholds}). Works on the raw parsed YAML, so it also helps with a document that does
 * not validate yet; an un-keyed single entry (the predecessor's `prepare stage` file) is accepted too.
 */
export function lintDeploymentThresholds(doc: unknown): LocatedFinding[] {
  if (!isMapping(doc)) return [];
  const entries: Array<[string[], unknown]> = 'openscale_custom_metric_provider' in doc ? [[[], doc]] : Object.entries(doc).map(([k, v]) => [[k], v]);
  const out: LocatedFinding[] = [];
  for (const [prefix, entry] of entries) {
    if (!isMapping(entry) || !isMapping(entry.openscale_custom_metric_provider)) continue;
    for (const [monitorId, config] of Object.entries(entry.openscale_custom_metric_provider)) {
      if (!isMapping(config) || config.thresholds === undefined) continue;
      const base = [...prefix, 'openscale_custom_metric_provider', monitorId, 'thresholds'];
      for (const f of lintThresholds(monitorId, config.thresholds)) {
        out.push({ ...f, path: formatYamlPath(f.metric ? [...base, f.metric] : base) });
      }
    }
  }
  return out;
}
