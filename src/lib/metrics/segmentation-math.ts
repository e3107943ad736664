/**
 * DeepLIIF's per-image segmentation metrics and their aggregation over images
 * (DeepLIIF_Statistics `compute_metrics_gpu` and `compute_segmentation_metrics`):
 * - per image and class: IOU = TP/(TP+FP+FN), precision = TP/(TP+FP), recall = TP/(TP+FN),
 *   f1 = 2PR/(P+R), Dice = 2TP/(2TP+FP+FN), PixAcc = (TP+TN)/all;
 * - when TP = 0: all six are 0 if the ground truth or the prediction has any foreground
 *   (PixAcc included, even when nearly every pixel is right), all six are 1 if both are empty;
 * - aggregation is a macro mean over images: `<m>_positive` / `<m>_negative` are means of the class
 *   fractions (0–1); `<m>` is the mean of the per-image `(positive·100 + negative·100) / 2` (0–100).
 * Floating-point operations follow DeepLIIF's order so the results are the same doubles.
 */
import { SEGMENTATION_MONITOR, metricIdFromName } from '../monitors/definitions';
import type { ConfusionCounts, PairCounts } from './masks';

/** The six metrics, spelled as in the monitor definition. */
export const SEGMENTATION_BASE_METRICS = ['precision', 'recall', 'f1', 'Dice', 'IOU', 'PixAcc'] as const;
export type SegmentationBaseMetric = (typeof SEGMENTATION_BASE_METRICS)[number];

/** One of the 18 published metric names: a base metric, or its `_positive` / `_negative` variant. */
export type SegmentationMetricName =
  | SegmentationBaseMetric
  | `${SegmentationBaseMetric}_positive`
  | `${SegmentationBaseMetric}_negative`;

/** The 18 published names in the monitor definition's order: `precision`, `precision_positive`, …, `PixAcc_negative`. */
export const SEGMENTATION_METRIC_NAMES: readonly SegmentationMetricName[] = SEGMENTATION_BASE_METRICS.flatMap(
  (m) => [m, `${m}_positive`, `${m}_negative`] as SegmentationMetricName[],
);

/** The aggregated metrics of a run, keyed by the monitor definition's metric names. */
export type SegmentationMetrics = Record<SegmentationMetricName, number>;

/** One class's six metrics for one image, as fractions (0–1). */
export type ClassMetrics = Record<SegmentationBaseMetric, number>;

/** DeepLIIF's per-image, per-class metrics with its empty-mask rule. */
export function classMetrics(c: ConfusionCounts): ClassMetrics {
  const { tp, fp, fn, tn } = c;
  if (tp === 0) {
    // The ground truth has foreground (fn > 0) or the prediction has false positives: all zero.
    const v = fn > 0 || fp > 0 ? 0 : 1;
    return { precision: v, recall: v, f1: v, Dice: v, IOU: v, PixAcc: v };
  }
  const precision = tp / (tp + fp);
  const recall = tp / (tp + fn);
  return {
    IOU: tp / (tp + fp + fn),
    precision,
    recall,
    f1: (2 * precision * recall) / (precision + recall),
    Dice: (2 * tp) / (2 * tp + fp + fn),
    PixAcc: (tp + tn) / (tp + tn + fp + fn),
  };
}

/** One image's metrics per class and their mean over the two classes (DeepLIIF's per-image "Mean" row). */
export interface ImageMetrics {
  readonly positive: ClassMetrics;
  readonly negative: ClassMetrics;
  /** DeepLIIF's per-image "Mean" row, in percent: (positive·100 + negative·100) / 2. */
  readonly mean: ClassMetrics;
}

/** The metrics of one image from its counts (see docs/metrics.md for the definitions). */
export function imageMetrics(counts: PairCounts): ImageMetrics {
  const positive = classMetrics(counts.positive);
  const negative = classMetrics(counts.negative);
  const mean = {} as Record<SegmentationBaseMetric, number>;
  for (const m of SEGMENTATION_BASE_METRICS) mean[m] = (positive[m] * 100 + negative[m] * 100) / 2;
  return { positive, negative, mean };
}

/**
 * Macro average over images, built one image at a time in the order added (the order fixes the
 * floating-point sums: callers add images sorted by file name so results do not depend on listing
 * order or worker count). Holds 18 sums, whatever the number of images.
 */
export class SegmentationMetricsAccumulator {
  private readonly sums = {} as Record<SegmentationMetricName, number>;
  private n = 0;

  constructor() {
    for (const name of SEGMENTATION_METRIC_NAMES) this.sums[name] = 0;
  }

  /** Images added so far. */
  get images(): number {
    return this.n;
  }

  /** Adds one image's counts to the sums. */
  add(counts: PairCounts): void {
    const im = imageMetrics(counts);
    for (const m of SEGMENTATION_BASE_METRICS) {
      this.sums[m] += im.mean[m];
      this.sums[`${m}_positive`] += im.positive[m];
      this.sums[`${m}_negative`] += im.negative[m];
    }
    this.n++;
  }

  /** The means over the images added (a new object each call). */
  result(): SegmentationMetrics {
    if (this.n === 0) throw new RangeError('segmentation metrics: no images to average');
    const out = {} as Record<SegmentationMetricName, number>;
    for (const name of SEGMENTATION_METRIC_NAMES) out[name] = this.sums[name] / this.n;
    return out;
  }
}

/** Macro average over images, in the order given (see SegmentationMetricsAccumulator). */
export function aggregateSegmentationMetrics(images: readonly PairCounts[]): SegmentationMetrics {
  const acc = new SegmentationMetricsAccumulator();
  for (const counts of images) acc.add(counts);
  return acc.result();
}

/** The unit of a published metric, from the monitor definition (`percent` or `fraction`). */
export function segmentationMetricUnit(name: SegmentationMetricName): 'percent' | 'fraction' {
  const spec = SEGMENTATION_MONITOR.metrics.find((m) => m.name === name);
  if (!spec || (spec.unit !== 'percent' && spec.unit !== 'fraction')) {
    throw new RangeError(`metric ${name} is not a segmentation metric of the monitor definition`);
  }
  return spec.unit;
}

/**
 * Re-keys metrics by OpenScale metric id (lower-cased name: `Dice` → `dice`, `IOU_positive` →
 * `iou_positive`, `PixAcc` → `pixacc`), the keys the predecessor published.
 */
export function toMetricIds<K extends string>(metrics: Readonly<Record<K, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(metrics) as [string, number][]) out[metricIdFromName(name)] = value;
  return out;
}
