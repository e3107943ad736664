/**
 * B1: the monitors' metrics computed locally on two folders, the way the provider computes them on
 * the volume, and compared with the thresholds the deployment would use — to develop and check a
 * monitor before it runs in OpenScale.
 */
import { GENERIC_MONITOR, SEGMENTATION_MONITOR } from '../monitors/definitions';
import { genericMetricsForFolders, type GenericResult } from '../metrics/generic';
import { segmentationMetricsForFolders, type SegmentationResult } from '../metrics/segmentation';
import { imageMetrics } from '../metrics/segmentation-math';
import { breachOf } from '../openscale/status';
import { defaultThresholds, withOverrides } from '../thresholds/defaults';
import type { ThresholdMap } from '../thresholds/schema';
import { textTable } from './report';
import type { ThresholdOverrides } from './thresholds';

/** One metric against its threshold. */
export interface MetricRow {
  readonly monitor: string;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly limit?: number;
  readonly direction?: 'lower' | 'upper';
  readonly breach?: string;
}

/** What {@link evaluateFolders} computed. */
export interface LocalEvaluation {
  readonly segmentation: SegmentationResult;
  readonly generic: GenericResult;
  readonly rows: readonly MetricRow[];
  readonly breaches: number;
}

function rowsOf(monitor: string, values: Readonly<Record<string, number>>, units: Readonly<Record<string, string>>, thresholds: ThresholdMap): MetricRow[] {
  return Object.entries(values).map(([metric, value]) => {
    const t = thresholds[metric];
    const direction = t ? (t.threshold[1] as 'lower' | 'upper') : undefined;
    const limit = t ? (t.threshold[0] as number) : undefined;
    const breach = t ? breachOf(value, direction === 'lower' ? limit : undefined, direction === 'upper' ? limit : undefined) : undefined;
    return { monitor, metric, value, unit: units[metric] ?? '', limit, direction, breach };
  });
}

/**
 * Both monitors on local folders: segmentation metrics of `NAME_SegRefined.png` predictions against
 * `NAME.png` ground truths (top level, as DeepLIIF lists them) and image counts (recursive),
 * compared with the definitions' default thresholds and the overrides.
 *
 * @param opts.mostRecentDays the monitors' "recent" window; undefined = every file counts as recent.
 */
export async function evaluateFolders(
  dirs: { groundTruth: string; prediction: string },
  opts: { mostRecentDays?: number; minPairs?: number; overrides?: ThresholdOverrides } = {},
): Promise<LocalEvaluation> {
  const segmentation = await segmentationMetricsForFolders(dirs, { mostRecentDays: opts.mostRecentDays, minPairs: opts.minPairs });
  // Without a window every file is recent: a window longer than any file's age.
  const generic = await genericMetricsForFolders(dirs, { mostRecentDays: opts.mostRecentDays ?? 100 * 365 });
  const units = (spec: typeof SEGMENTATION_MONITOR) => Object.fromEntries(spec.metrics.map((m) => [m.name, m.unit]));
  const seg = withOverrides(defaultThresholds(SEGMENTATION_MONITOR), opts.overrides?.[SEGMENTATION_MONITOR.id] ?? {});
  const gen = withOverrides(defaultThresholds(GENERIC_MONITOR), opts.overrides?.[GENERIC_MONITOR.id] ?? {});
  const rows = [
    ...rowsOf(SEGMENTATION_MONITOR.id, segmentation.metrics as unknown as Record<string, number>, units(SEGMENTATION_MONITOR), seg),
    ...rowsOf(GENERIC_MONITOR.id, generic.metrics as unknown as Record<string, number>, units(GENERIC_MONITOR), gen),
  ];
  return { segmentation, generic, rows, breaches: rows.filter((r) => r.breach).length };
}

/** The metrics against their thresholds as a text table. */
export function metricTable(rows: readonly MetricRow[]): string {
  return textTable(
    ['monitor', 'metric', 'value', 'unit', 'limit', 'status'],
    rows.map((r) => [r.monitor, r.metric, r.value, r.unit, r.limit === undefined ? '' : `${r.direction === 'upper' ? '≤' : '≥'} ${r.limit}`, r.breach ? `BREACH (${r.breach})` : 'ok']),
  );
}

/** Per image: Dice and IOU of both classes (fractions), as DeepLIIF's per-image rows. */
export function perImageTable(result: SegmentationResult): string {
  return textTable(
    ['image', 'Dice_positive', 'Dice_negative', 'IOU_positive', 'IOU_negative', 'PixAcc (%)'],
    result.images.map((im) => {
      const m = imageMetrics(im.counts) as unknown as Record<string, Record<string, number>>;
      return [im.name, m.positive?.Dice, m.negative?.Dice, m.positive?.IOU, m.negative?.IOU, m.mean?.PixAcc];
    }),
  );
}
