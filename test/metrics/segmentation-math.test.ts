import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { countMasks, type ConfusionCounts, type PairCounts } from '../../src/lib/metrics/masks';
import {
  SEGMENTATION_BASE_METRICS,
  SEGMENTATION_METRIC_NAMES,
  aggregateSegmentationMetrics,
  classMetrics,
  imageMetrics,
  segmentationMetricUnit,
  toMetricIds,
} from '../../src/lib/metrics/segmentation-math';
import { SEGMENTATION_MONITOR } from '../../src/lib/monitors/definitions';

// Worked vectors of deepliif-metrics.md §2 as (prediction, ground truth) masks.
const PARTIAL = { pred: [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], gt: [[0, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]] };
const BOTH_EMPTY = { pred: [[0, 0], [0, 0]], gt: [[0, 0], [0, 0]] };
const FP_ONLY = { pred: [[1, 0], [0, 0]], gt: [[0, 0], [0, 0]] };
const FN_ONLY = { pred: [[0, 0], [0, 0]], gt: [[0, 1], [0, 0]] };
const PERFECT = { pred: [[1, 1], [0, 0]], gt: [[1, 1], [0, 0]] };

/** Plain per-pixel counting, written independently of the implementation. */
function countPlain(pred: readonly number[], gt: readonly number[]): ConfusionCounts {
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (let i = 0; i < pred.length; i++) {
    if (pred[i] && gt[i]) tp++;
    else if (pred[i]) fp++;
    else if (gt[i]) fn++;
    else tn++;
  }
  return { tp, fp, fn, tn };
}

/** A plain reference of DeepLIIF's per-class rule, written from the notes (deepliif-metrics.md §1). */
function referenceMetrics(c: ConfusionCounts): Record<string, number> {
  const { tp, fp, fn, tn } = c;
  if (tp === 0) {
    const gtHasForeground = tp + fn > 0;
    const v = gtHasForeground || fp > 0 ? 0 : 1;
    return { IOU: v, precision: v, recall: v, f1: v, Dice: v, PixAcc: v };
  }
  const p = tp / (tp + fp);
  const r = tp / (tp + fn);
  return { IOU: tp / (tp + fp + fn), precision: p, recall: r, f1: (2 * p * r) / (p + r), Dice: (2 * tp) / (2 * tp + fp + fn), PixAcc: (tp + tn) / (tp + fp + fn + tn) };
}

const flat = (m: number[][]): number[] => m.flat();
const counts = (v: { pred: number[][]; gt: number[][] }): ConfusionCounts => countPlain(flat(v.pred), flat(v.gt));

describe('DeepLIIF per-class metrics (worked vectors, deepliif-metrics.md §2)', () => {
  it.each([
    ['4×4 partial overlap', PARTIAL, { tp: 2, fp: 2, fn: 1, tn: 11 }, { IOU: 0.4, precision: 0.5, recall: 0.6667, f1: 0.5714, Dice: 0.5714, PixAcc: 0.8125 }],
    ['both empty', BOTH_EMPTY, { tp: 0, fp: 0, fn: 0, tn: 4 }, { IOU: 1, precision: 1, recall: 1, f1: 1, Dice: 1, PixAcc: 1 }],
    ['FP only (GT empty): PixAcc 0', FP_ONLY, { tp: 0, fp: 1, fn: 0, tn: 3 }, { IOU: 0, precision: 0, recall: 0, f1: 0, Dice: 0, PixAcc: 0 }],
    ['FN only (prediction empty): PixAcc 0', FN_ONLY, { tp: 0, fp: 0, fn: 1, tn: 3 }, { IOU: 0, precision: 0, recall: 0, f1: 0, Dice: 0, PixAcc: 0 }],
    ['perfect', PERFECT, { tp: 2, fp: 0, fn: 0, tn: 2 }, { IOU: 1, precision: 1, recall: 1, f1: 1, Dice: 1, PixAcc: 1 }],
  ])('%s', (_name, masks, expectedCounts, expected) => {
    const c = counts(masks);
    expect(c).toEqual(expectedCounts);
    const m = classMetrics(c);
    for (const [k, v] of Object.entries(expected)) expect(m[k as keyof typeof m]).toBeCloseTo(v, 4);
  });

  it('counts both classes of code masks like the plain per-pixel count', () => {
    // Codes: bit 0 = positive (red), bit 1 = negative (blue).
    const pred = Uint8Array.from([1, 3, 0, 2, 2, 0, 1, 0]);
    const gt = Uint8Array.from([1, 1, 2, 2, 0, 0, 0, 3]);
    const c = countMasks(pred, gt);
    expect(c.positive).toEqual(countPlain([1, 1, 0, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 0, 0, 1]));
    expect(c.negative).toEqual(countPlain([0, 1, 0, 1, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 1]));
    expect(() => countMasks(pred, gt.subarray(1))).toThrow(/masks differ in size/);
  });
});

describe('aggregation over images (macro mean, units)', () => {
  it('reproduces the two-image example: positive = {partial, perfect}, negative = {both-empty, FN-only}', () => {
    const images: PairCounts[] = [
      { positive: counts(PARTIAL), negative: counts(BOTH_EMPTY) },
      { positive: counts(PERFECT), negative: counts(FN_ONLY) },
    ];
    const m = aggregateSegmentationMetrics(images);
    expect(m.precision_positive).toBeCloseTo(0.75, 10);
    expect(m.precision_negative).toBeCloseTo(0.5, 10);
    expect(m.precision).toBeCloseTo(62.5, 10);
    expect(m.Dice_positive).toBeCloseTo(0.7857, 4);
    expect(m.Dice_negative).toBeCloseTo(0.5, 10);
    expect(m.Dice).toBeCloseTo(64.2857, 4);
    expect(Object.keys(m).sort()).toEqual([...SEGMENTATION_METRIC_NAMES].sort());
  });

  it('keeps the invariant metric = 50 × (metric_positive + metric_negative) for all six metrics', () => {
    const countsArb = fc.record({ tp: fc.nat(400), fp: fc.nat(400), fn: fc.nat(400), tn: fc.nat(400) });
    fc.assert(
      fc.property(fc.array(fc.record({ positive: countsArb, negative: countsArb }), { minLength: 1, maxLength: 12 }), (images) => {
        const m = aggregateSegmentationMetrics(images);
        for (const b of SEGMENTATION_BASE_METRICS) {
          const expected = 50 * (m[`${b}_positive`] + m[`${b}_negative`]);
          if (Math.abs(m[b] - expected) > 1e-9 * Math.max(1, expected)) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('matches a plain reference on random masks, image by image and aggregated', () => {
    const maskArb = fc.integer({ min: 1, max: 64 }).chain((n) =>
      fc.record({
        predPos: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: n, maxLength: n }),
        gtPos: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: n, maxLength: n }),
        predNeg: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: n, maxLength: n }),
        gtNeg: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: n, maxLength: n }),
        // Often empty masks, to exercise the TP = 0 rule.
        emptyPred: fc.boolean(),
        emptyGt: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(fc.array(maskArb, { minLength: 1, maxLength: 8 }), (images) => {
        const sums: Record<string, number> = {};
        const pairCounts: PairCounts[] = [];
        for (const im of images) {
          const predPos = im.emptyPred ? im.predPos.map(() => 0) : im.predPos;
          const gtNeg = im.emptyGt ? im.gtNeg.map(() => 0) : im.gtNeg;
          const codes = (pos: number[], neg: number[]): Uint8Array => Uint8Array.from(pos.map((p, i) => p | (neg[i] << 1)));
          const c = countMasks(codes(predPos, im.predNeg), codes(im.gtPos, gtNeg));
          const refPos = referenceMetrics(countPlain(predPos, im.gtPos));
          const refNeg = referenceMetrics(countPlain(im.predNeg, gtNeg));
          const ours = imageMetrics(c);
          for (const b of SEGMENTATION_BASE_METRICS) {
            if (ours.positive[b] !== refPos[b] || ours.negative[b] !== refNeg[b]) return false;
            sums[b] = (sums[b] ?? 0) + (refPos[b] * 100 + refNeg[b] * 100) / 2;
            sums[`${b}_positive`] = (sums[`${b}_positive`] ?? 0) + refPos[b];
            sums[`${b}_negative`] = (sums[`${b}_negative`] ?? 0) + refNeg[b];
          }
          pairCounts.push(c);
        }
        const agg = aggregateSegmentationMetrics(pairCounts);
        // Same operations in the same order: the same doubles, not just close ones.
        return SEGMENTATION_METRIC_NAMES.every((k) => agg[k] === sums[k] / images.length);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to average zero images', () => {
    expect(() => aggregateSegmentationMetrics([])).toThrow(/no images/);
  });
});

describe('published names, units and OpenScale ids', () => {
  it('uses exactly the monitor definition\'s segmentation metric names', () => {
    expect([...SEGMENTATION_METRIC_NAMES].sort()).toEqual(SEGMENTATION_MONITOR.metrics.map((m) => m.name).sort());
  });

  it('gives percent to unsuffixed metrics and fractions to _positive/_negative', () => {
    expect(segmentationMetricUnit('Dice')).toBe('percent');
    expect(segmentationMetricUnit('PixAcc')).toBe('percent');
    expect(segmentationMetricUnit('IOU_positive')).toBe('fraction');
    expect(segmentationMetricUnit('recall_negative')).toBe('fraction');
  });

  it('maps names to lower-cased OpenScale ids as the predecessor published them', () => {
    const ids = toMetricIds({ Dice: 1, IOU_positive: 2, PixAcc: 3, precision_negative: 4, f1: 5 });
    expect(ids).toEqual({ dice: 1, iou_positive: 2, pixacc: 3, precision_negative: 4, f1: 5 });
  });
});
