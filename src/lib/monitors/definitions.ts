/**
 * The two custom monitors of the runbook, as registered in OpenScale: their names, ids, metrics,
 * units and default thresholds. Everything else (threshold lint, provider registration, the metric
 * computations' published names) reads them from here.
 */

/** `lower`: breach when value < limit; `upper`: breach when value > limit. */
export type ThresholdDirection = 'lower' | 'upper';

/** percent: 0–100; fraction: 0–1; count: a non-negative integer. */
export type MetricUnit = 'percent' | 'fraction' | 'count';

/** One metric of a monitor: its published name, unit and the threshold used when a deployment sets none. */
export interface MetricSpec {
  /** The metric name in the monitor definition (what the provider publishes). */
  readonly name: string;
  readonly description: string;
  readonly unit: MetricUnit;
  readonly defaultThreshold: { readonly direction: ThresholdDirection; readonly value: number };
}

/** A custom monitor as the runbook registers it in OpenScale (see {@link SEGMENTATION_MONITOR}, {@link GENERIC_MONITOR}). */
export interface MonitorSpec {
  /** Display name in OpenScale; the monitor id is derived from it. */
  readonly name: string;
  /** OpenScale's id for the definition: {@link monitorIdFromName} of the name. */
  readonly id: string;
  readonly description: string;
  readonly metrics: readonly MetricSpec[];
}

/**
 * OpenScale derives a monitor definition's id (and a metric's id) from its name: lower case,
 * every run of other characters than a–z and 0–9 replaced by `_`
 * ("Segmentation Metrics v22" → "segmentation_metrics_v22", "Dice" → "dice").
 */
export function monitorIdFromName(name: string): string {
  return name.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}

/** The id OpenScale gives a metric of a custom monitor definition (the predecessor's lower-cased keys). */
export const metricIdFromName = monitorIdFromName;

const SEGMENTATION_BASE: ReadonlyArray<[string, string, number]> = [
  ['precision', 'Precision TP/(TP+FP)', 60],
  ['recall', 'Recall TP/(TP+FN)', 15],
  ['f1', 'F1 score 2PR/(P+R)', 45],
  ['Dice', 'Dice coefficient 2TP/(2TP+FP+FN)', 25],
  ['IOU', 'Intersection over union TP/(TP+FP+FN)', 15],
  ['PixAcc', 'Pixel accuracy (TP+TN)/all', 35],
];

function segmentationMetrics(): MetricSpec[] {
  const out: MetricSpec[] = [];
  for (const [base, what, percent] of SEGMENTATION_BASE) {
    out.push({
      name: base,
      description: `${what}, mean of the positive and negative classes over images, in percent (0-100)`,
      unit: 'percent',
      defaultThreshold: { direction: 'lower', value: percent },
    });
    for (const cls of ['positive', 'negative'] as const) {
      out.push({
        name: `${base}_${cls}`,
        description: `${what} of the ${cls} class (${cls === 'positive' ? 'red' : 'blue'} channel), mean over images, as a fraction (0-1)`,
        unit: 'fraction',
        defaultThreshold: { direction: 'lower', value: percent / 100 },
      });
    }
  }
  return out;
}

/** DeepLIIF segmentation metrics: 6 metrics × (mean in percent, positive and negative in fractions). */
export const SEGMENTATION_MONITOR: MonitorSpec = {
  name: 'Segmentation Metrics',
  id: 'segmentation_metrics',
  description: 'DeepLIIF segmentation metrics of predicted against ground-truth masks in a storage volume',
  metrics: segmentationMetrics(),
};

/** Image counts in the ground-truth and prediction folders of a storage volume. */
export const GENERIC_MONITOR: MonitorSpec = {
  name: 'Generic Metrics',
  id: 'generic_metrics',
  description: 'Counts of ground-truth and predicted images in a storage volume, in total and recently modified',
  metrics: [
    { name: 'num_images_total_ground_truth', description: 'Ground-truth images in total', unit: 'count', defaultThreshold: { direction: 'lower', value: 5 } },
    { name: 'num_images_total_predicted', description: 'Predicted images in total', unit: 'count', defaultThreshold: { direction: 'lower', value: 40 } },
    { name: 'num_images_recent_ground_truth', description: 'Ground-truth images modified in the last most_recent days', unit: 'count', defaultThreshold: { direction: 'lower', value: 5 } },
    { name: 'num_images_recent_predicted', description: 'Predicted images modified in the last most_recent days', unit: 'count', defaultThreshold: { direction: 'lower', value: 40 } },
  ],
};

/** The monitors this project ships providers for, by id. */
export const BUILTIN_MONITORS: Readonly<Record<string, MonitorSpec>> = {
  [SEGMENTATION_MONITOR.id]: SEGMENTATION_MONITOR,
  [GENERIC_MONITOR.id]: GENERIC_MONITOR,
};
