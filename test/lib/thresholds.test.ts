import { describe, expect, it } from '@jest/globals';
import { GENERIC_MONITOR, SEGMENTATION_MONITOR } from '../../src/lib/monitors/definitions';
import { ValidationError } from '../../src/lib/errors';
import {
  defaultThresholds,
  diffThresholds,
  findMonitorSpec,
  instanceThresholdsMatch,
  lintThresholds,
  thresholdsEqual,
  thresholdsFromDefinition,
  thresholdsFromInstance,
  thresholdsUsable,
  toDefinitionMetrics,
  toInstanceThresholds,
  withOverrides,
  ThresholdMap,
} from '../../src/lib/thresholds';

/** The runbook's README thresholds (seed §1), which are all in the right units. */
const README_SEGMENTATION: Record<string, { threshold: [number, 'lower' | 'upper'] }> = {
  precision: { threshold: [60.0, 'lower'] },
  precision_positive: { threshold: [0.6, 'lower'] },
  precision_negative: { threshold: [0.6, 'lower'] },
  recall: { threshold: [15.0, 'lower'] },
  recall_positive: { threshold: [0.15, 'lower'] },
  recall_negative: { threshold: [0.15, 'lower'] },
  f1: { threshold: [45.0, 'lower'] },
  f1_positive: { threshold: [0.45, 'lower'] },
  f1_negative: { threshold: [0.45, 'lower'] },
  Dice: { threshold: [20.0, 'lower'] },
  Dice_positive: { threshold: [0.2, 'lower'] },
  Dice_negative: { threshold: [0.2, 'lower'] },
  IOU: { threshold: [12.0, 'lower'] },
  IOU_positive: { threshold: [0.12, 'lower'] },
  IOU_negative: { threshold: [0.12, 'lower'] },
  PixAcc: { threshold: [35.0, 'lower'] },
  PixAcc_positive: { threshold: [0.35, 'lower'] },
  PixAcc_negative: { threshold: [0.35, 'lower'] },
};

describe('defaultThresholds', () => {
  it('gives every metric of the definition with its default value and direction', () => {
    const d = defaultThresholds(SEGMENTATION_MONITOR);
    expect(Object.keys(d)).toEqual(SEGMENTATION_MONITOR.metrics.map((m) => m.name));
    for (const m of SEGMENTATION_MONITOR.metrics) expect(d[m.name].threshold).toEqual([m.defaultThreshold.value, m.defaultThreshold.direction]);
    expect(ThresholdMap.safeParse(d).success).toBe(true);
  });

  it('finds built-in monitors by plain id, versioned id and display name', () => {
    expect(findMonitorSpec('segmentation_metrics')).toBe(SEGMENTATION_MONITOR);
    expect(findMonitorSpec('segmentation_metrics_v22')).toBe(SEGMENTATION_MONITOR);
    expect(findMonitorSpec('Generic Metrics v5')).toBe(GENERIC_MONITOR);
    expect(findMonitorSpec('drift_metrics')).toBeUndefined();
  });
});

describe('withOverrides', () => {
  it('replaces values, keeps the base direction for bare numbers, and leaves the inputs alone', () => {
    const base = defaultThresholds(GENERIC_MONITOR);
    const before = JSON.stringify(base);
    const overrides = { num_images_recent_ground_truth: 100, num_images_recent_predicted: { threshold: [800, 'upper'] as [number, 'upper'] } };
    const out = withOverrides(base, overrides);
    expect(out.num_images_recent_ground_truth.threshold).toEqual([100, 'lower']);
    expect(out.num_images_recent_predicted.threshold).toEqual([800, 'upper']);
    expect(out.num_images_total_predicted).toEqual(base.num_images_total_predicted);
    expect(JSON.stringify(base)).toBe(before);
    out.num_images_total_predicted.threshold[0] = 1;
    expect(base.num_images_total_predicted.threshold[0]).toBe(40);
  });

  it('rejects an unknown metric, naming it, suggesting the right case and listing the valid names', () => {
    const base = defaultThresholds(SEGMENTATION_MONITOR);
    let err: unknown;
    try {
      withOverrides(base, { dice: 20 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const msg = (err as Error).message;
    expect(msg).toContain('unknown metric "dice"');
    expect(msg).toContain('did you mean "Dice"');
    expect(msg).toContain('PixAcc_negative');
    expect((err as ValidationError).issues[0].path).toBe('dice');
  });

  it('rejects non-finite numbers', () => {
    expect(() => withOverrides(defaultThresholds(GENERIC_MONITOR), { num_images_total_predicted: Number.NaN })).toThrow(/finite/);
  });
});

describe('lintThresholds', () => {
  it('accepts the README thresholds of the segmentation monitor without findings', () => {
    expect(lintThresholds('segmentation_metrics_v22', README_SEGMENTATION)).toEqual([]);
  });

  it('warns about a fraction given to a percentage metric (precision: 0.6) and suggests the percentage', () => {
    const f = lintThresholds('segmentation_metrics', { precision: { threshold: [0.6, 'lower'] } });
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ metric: 'precision', severity: 'warning' });
    expect(f[0].message).toContain('did you mean 60?');
  });

  it('warns about a percentage given to a fraction metric (precision_positive: 60) and suggests the fraction', () => {
    const f = lintThresholds('segmentation_metrics', { precision_positive: { threshold: [60, 'lower'] } });
    expect(f).toEqual([expect.objectContaining({ metric: 'precision_positive', severity: 'warning' })]);
    expect(f[0].message).toContain('did you mean 0.6?');
  });

  it('reports out-of-range values as errors', () => {
    const f = lintThresholds('segmentation_metrics', {
      recall: { threshold: [150, 'lower'] },
      recall_negative: { threshold: [-0.1, 'lower'] },
      f1_positive: { threshold: [450, 'lower'] },
    });
    expect(f.map((x) => [x.metric, x.severity])).toEqual([
      ['recall', 'error'],
      ['recall_negative', 'error'],
      ['f1_positive', 'error'],
    ]);
    expect(thresholdsUsable(f)).toBe(false);
  });

  it('reports unknown metric names with a suggestion, and non-numeric values', () => {
    const f = lintThresholds('segmentation_metrics', { iou: { threshold: [12, 'lower'] }, Dice: { threshold: ['20', 'lower'] } });
    const unknown = f.find((x) => x.metric === 'iou');
    expect(unknown).toMatchObject({ severity: 'error' });
    expect(unknown!.message).toContain('did you mean "IOU"');
    const nonNumeric = f.find((x) => x.metric === 'Dice');
    expect(nonNumeric).toMatchObject({ severity: 'error' });
    expect(nonNumeric!.message).toContain('must be a number, got "20"');
  });

  it('reports negative counts as errors and fractional counts as warnings for the generic monitor', () => {
    const f = lintThresholds('generic_metrics_v5', {
      num_images_total_ground_truth: { threshold: [-1, 'lower'] },
      num_images_total_predicted: { threshold: [40.5, 'lower'] },
      num_images_recent_predicted: { threshold: [40, 'lower'] },
    });
    expect(f.map((x) => [x.metric, x.severity])).toEqual([
      ['num_images_total_ground_truth', 'error'],
      ['num_images_total_predicted', 'warning'],
    ]);
  });

  it('reports malformed entries, bad directions and extra keys', () => {
    const f = lintThresholds('segmentation_metrics', {
      precision: 60,
      recall: { threshold: [15, 'below'] },
      f1: { threshold: [45, 'lower'], tag: ['x', 'y'] },
      IOU: { threshold: [15] },
    });
    expect(f.filter((x) => x.severity === 'error').map((x) => x.metric)).toEqual(['precision', 'recall', 'f1', 'IOU']);
    expect(f.find((x) => x.metric === 'recall')!.message).toContain(`'lower' or 'upper', got "below"`);
  });

  it('warns when the direction is the opposite of the definition', () => {
    const f = lintThresholds(SEGMENTATION_MONITOR, { PixAcc: { threshold: [35, 'upper'] } });
    expect(f).toEqual([expect.objectContaining({ metric: 'PixAcc', severity: 'warning' })]);
  });

  it('checks only the form for an unknown monitor, and says so', () => {
    const f = lintThresholds('my_monitor', { anything: { threshold: [3, 'upper'] }, broken: { threshold: 'x' } });
    expect(f[0]).toMatchObject({ metric: '', severity: 'warning' });
    expect(f.slice(1)).toEqual([expect.objectContaining({ metric: 'broken', severity: 'error' })]);
  });

  it('rejects a non-mapping', () => {
    expect(lintThresholds('generic_metrics', [1, 2])).toEqual([expect.objectContaining({ metric: '', severity: 'error' })]);
    expect(lintThresholds('generic_metrics', null)[0].severity).toBe('error');
  });
});

describe('OpenScale wire forms', () => {
  it('builds definition metrics with one threshold each, from overrides or defaults', () => {
    const metrics = toDefinitionMetrics(GENERIC_MONITOR, { num_images_total_predicted: { threshold: [80, 'lower'] } });
    expect(metrics).toHaveLength(4);
    expect(metrics.find((m) => m.name === 'num_images_total_predicted')!.thresholds).toEqual([{ type: 'lower_limit', default: 80 }]);
    expect(metrics.find((m) => m.name === 'num_images_total_ground_truth')!.thresholds).toEqual([{ type: 'lower_limit', default: 5 }]);
    expect(() => toDefinitionMetrics(GENERIC_MONITOR, { nope: { threshold: [1, 'lower'] } })).toThrow(/unknown metric "nope"/);
  });

  it('reads definition defaults back, skipping metrics without a default', () => {
    const back = thresholdsFromDefinition([
      ...toDefinitionMetrics(SEGMENTATION_MONITOR),
      { name: 'extra', thresholds: [{ type: 'upper_limit' }] },
    ]);
    expect(back).toEqual(defaultThresholds(SEGMENTATION_MONITOR));
  });

  it('builds instance overrides with metric ids derived from names, and reads them back', () => {
    const overrides = toInstanceThresholds({ Dice: { threshold: [20, 'lower'] }, IOU_positive: { threshold: [0.5, 'upper'] } });
    expect(overrides).toEqual([
      { metric_id: 'dice', type: 'lower_limit', value: 20 },
      { metric_id: 'iou_positive', type: 'upper_limit', value: 0.5 },
    ]);
    expect(thresholdsFromInstance(overrides, SEGMENTATION_MONITOR)).toEqual({ Dice: { threshold: [20, 'lower'] }, IOU_positive: { threshold: [0.5, 'upper'] } });
    expect(() => thresholdsFromInstance([{ metric_id: 'nope', type: 'lower_limit', value: 1 }], SEGMENTATION_MONITOR)).toThrow(/"nope" is not a metric/);
  });

  it('diffs thresholds by metric id and ignores floating-point noise', () => {
    const a = { Dice: { threshold: [20, 'lower'] as [number, 'lower'] }, IOU: { threshold: [12, 'lower'] as [number, 'lower'] } };
    const b = { dice: { threshold: [20.000000000001, 'lower'] as [number, 'lower'] }, PixAcc: { threshold: [35, 'lower'] as [number, 'lower'] } };
    expect(diffThresholds(a, b)).toEqual([
      { metric: 'IOU', before: [12, 'lower'], after: undefined },
      { metric: 'PixAcc', before: undefined, after: [35, 'lower'] },
    ]);
    expect(thresholdsEqual(a, a)).toBe(true);
    expect(thresholdsEqual(a, { ...a, IOU: { threshold: [12, 'upper'] } })).toBe(false);
  });

  it('tells whether an instance already has the desired overrides', () => {
    const desired = { Dice: { threshold: [20, 'lower'] as [number, 'lower'] } };
    expect(instanceThresholdsMatch([{ metric_id: 'dice', type: 'lower_limit', value: 20 }], desired)).toBe(true);
    expect(instanceThresholdsMatch([{ metric_id: 'dice', type: 'lower_limit', value: 25 }], desired)).toBe(false);
    expect(instanceThresholdsMatch([{ metric_id: 'dice', type: 'upper_limit', value: 20 }], desired)).toBe(false);
    expect(instanceThresholdsMatch([], desired)).toBe(false);
    expect(instanceThresholdsMatch([{ metric_id: 'dice', type: 'lower_limit', value: 20 }, { metric_id: 'iou', type: 'lower_limit', value: 1 }], desired)).toBe(false);
    expect(instanceThresholdsMatch([{ metric_id: 'dice', type: 'lower_limit' }], desired)).toBe(false);
  });
});
