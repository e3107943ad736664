import { describe, expect, it, jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from '../../src/lib/errors';
import { decodePngRgb } from '../../src/lib/metrics/png';
import { resizeLinear8u } from '../../src/lib/metrics/resize';
import {
  computeSegmentationMetrics,
  segmentationMetricsForFolders,
  selectSegmentationPairs,
} from '../../src/lib/metrics/segmentation';
import type { FileEntry } from '../../src/lib/metrics/files';
import { blockMask, encodePng, lcg, setMtime, tempDir, writeRgbPng } from './helpers';

// Real PNG files of 512×512 on a shared 2-core machine: generous time.
jest.setTimeout(180_000);

const PARTIAL_PRED = [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
const PARTIAL_GT = [[0, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]];
const EMPTY = [[0, 0], [0, 0]];
const FP_PRED = [[1, 0], [0, 0]];
const FN_GT = [[0, 1], [0, 0]];
const PERFECT = [[1, 1], [0, 0]];

function folders(): { root: string; gt: string; pred: string } {
  const root = tempDir();
  const gt = join(root, 'gt');
  const pred = join(root, 'pred');
  mkdirSync(gt);
  mkdirSync(pred);
  return { root, gt, pred };
}

describe('segmentation metrics on real PNG files (golden vectors)', () => {
  // Each small pattern is scaled to 512×512 by whole blocks (4×4 → 128-pixel blocks, 2×2 → 256), so the
  // count ratios, hence the metrics, are those of deepliif-metrics.md §2.
  it.each([0, 2])('reproduces the two-image example with %i worker thread(s)', async (workers) => {
    const { gt, pred } = folders();
    writeRgbPng(join(pred, 'a_SegRefined.png'), 512, 512, blockMask(PARTIAL_PRED, EMPTY));
    writeRgbPng(join(gt, 'a.png'), 512, 512, blockMask(PARTIAL_GT, EMPTY));
    writeRgbPng(join(pred, 'b_SegRefined.png'), 512, 512, blockMask(PERFECT, EMPTY));
    writeRgbPng(join(gt, 'b.png'), 512, 512, blockMask(PERFECT, FN_GT));
    const r = await segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { minPairs: 2, workers });
    expect(r.execution.mode).toBe(workers === 0 ? 'in-thread' : 'threads');
    expect(r.images.map((i) => i.name)).toEqual(['a.png', 'b.png']);
    expect(r.images[0].counts.positive).toEqual({ tp: 2 * 16384, fp: 2 * 16384, fn: 16384, tn: 11 * 16384 });
    expect(r.images[0].counts.negative).toEqual({ tp: 0, fp: 0, fn: 0, tn: 512 * 512 });
    expect(r.images[1].counts.negative).toEqual({ tp: 0, fp: 0, fn: 65536, tn: 3 * 65536 });
    expect(r.metrics.precision_positive).toBeCloseTo(0.75, 12);
    expect(r.metrics.precision_negative).toBeCloseTo(0.5, 12);
    expect(r.metrics.precision).toBeCloseTo(62.5, 12);
    expect(r.metrics.Dice_positive).toBeCloseTo(0.785714, 6);
    expect(r.metrics.Dice_negative).toBeCloseTo(0.5, 12);
    expect(r.metrics.Dice).toBeCloseTo(64.2857, 4);
    expect(r.metrics.recall_positive).toBeCloseTo((2 / 3 + 1) / 2, 12);
    expect(r.metrics.IOU_positive).toBeCloseTo((0.4 + 1) / 2, 12);
    expect(r.metrics.PixAcc_positive).toBeCloseTo((0.8125 + 1) / 2, 12);
    expect(r.metrics.PixAcc_negative).toBeCloseTo(0.5, 12); // both-empty gives 1, FN-only gives 0
    expect(r.selection).toMatchObject({ predictions: 2, pairs: 2, notRecent: 0, unpairedGroundTruth: [] });
  });

  it('applies the empty-mask rule to PixAcc on real files: one false-positive pixel block zeroes every metric', async () => {
    const { gt, pred } = folders();
    for (const n of ['x', 'y', 'z']) {
      writeRgbPng(join(pred, `${n}_SegRefined.png`), 512, 512, blockMask(FP_PRED, EMPTY));
      writeRgbPng(join(gt, `${n}.png`), 512, 512, blockMask(EMPTY, EMPTY));
    }
    const r = await segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { workers: 0 });
    expect(r.images[0].counts.positive).toEqual({ tp: 0, fp: 65536, fn: 0, tn: 3 * 65536 });
    expect(r.metrics.PixAcc_positive).toBe(0); // 75 % of the pixels are right, DeepLIIF still says 0
    expect(r.metrics.PixAcc_negative).toBe(1); // both empty
    expect(r.metrics.PixAcc).toBe(50);
    expect(r.metrics.IOU).toBe(50);
  });

  it('gives identical results with and without worker threads on a random set', async () => {
    const { gt, pred } = folders();
    const next = lcg(7);
    for (let n = 0; n < 5; n++) {
      // Random rectangles of red, blue or green; the prediction is the ground truth shifted by n pixels.
      const rects = Array.from({ length: 12 }, () => [next() * 2, next() * 2, 6 + (next() % 60), 6 + (next() % 60), next() % 3] as const);
      const paint = (shift: number): Uint8Array => {
        const rgb = new Uint8Array(512 * 512 * 3);
        for (const [x0, y0, w, h, kind] of rects) {
          for (let y = y0; y < Math.min(512, y0 + h); y++) {
            for (let x = Math.min(511, x0 + shift); x < Math.min(512, x0 + shift + w); x++) rgb[(y * 512 + x) * 3 + (kind === 0 ? 0 : kind === 1 ? 2 : 1)] = 200;
          }
        }
        return rgb;
      };
      writeRgbPng(join(gt, `img${n}.png`), 512, 512, paint(0));
      writeRgbPng(join(pred, `img${n}_SegRefined.png`), 512, 512, paint(n));
    }
    const single = await segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { workers: 0 });
    const threaded = await segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { workers: 2 });
    const one = await segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { workers: 1 });
    expect(threaded.metrics).toEqual(single.metrics);
    expect(one.metrics).toEqual(single.metrics);
    expect(threaded.images).toEqual(single.images);
    expect(threaded.execution).toEqual({ mode: 'threads', workers: 2 });
  });
});

describe('images that are not 512×512 are resized first, as DeepLIIF does', () => {
  /** Plain per-pixel count of red > 0 / blue > 0 on two 512×512 RGB buffers. */
  const countRgb = (pred: Uint8Array, gt: Uint8Array) => {
    const c = (ch: number) => {
      let tp = 0, fp = 0, fn = 0, tn = 0;
      for (let i = ch; i < pred.length; i += 3) {
        const p = pred[i] > 0, g = gt[i] > 0;
        if (p && g) tp++; else if (p) fp++; else if (g) fn++; else tn++;
      }
      return { tp, fp, fn, tn };
    };
    return { positive: c(0), negative: c(2) };
  };

  it('a 1024×1024 ground truth made of 2×2 copies of a 512×512 mask counts exactly like the 512 mask', async () => {
    const { gt, pred } = folders();
    const next = lcg(11);
    const small = Array.from({ length: 512 * 512 }, () => (next() < 40 ? [255, 0, 0] : next() < 30 ? [0, 0, 255] : [0, 0, 0]) as [number, number, number]);
    const predPixels = Array.from({ length: 512 * 512 }, (_, i) => (next() < 128 ? small[i] : ([0, 0, 0] as [number, number, number])));
    writeRgbPng(join(gt, 'big.png'), 1024, 1024, (x, y) => small[(y >> 1) * 512 + (x >> 1)]);
    writeRgbPng(join(gt, 'same.png'), 512, 512, (x, y) => small[y * 512 + x]);
    writeRgbPng(join(pred, 'big_SegRefined.png'), 512, 512, (x, y) => predPixels[y * 512 + x]);
    writeRgbPng(join(pred, 'same_SegRefined.png'), 512, 512, (x, y) => predPixels[y * 512 + x]);
    const r = await segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { minPairs: 2 });
    expect(r.images[0].groundTruthSize).toEqual([1024, 1024]);
    expect(r.images[0].counts).toEqual(r.images[1].counts);
  });

  it('resizes other sizes before thresholding (integration: decode → OpenCV resize → red/blue > 0)', async () => {
    const { gt, pred } = folders();
    const next = lcg(5);
    const blob = (x: number, y: number, cx: number, cy: number, r: number) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
    writeRgbPng(join(pred, 'p_SegRefined.png'), 300, 200, (x, y) => [blob(x, y, 100, 80, 40) ? 255 : 0, next() & 1, blob(x, y, 220, 120, 30) ? 90 : 0]);
    writeRgbPng(join(gt, 'p.png'), 700, 900, (x, y) => [blob(x, y, 240, 380, 90) ? 255 : 0, 0, blob(x, y, 500, 500, 80) ? 1 : 0]);
    const r = await segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { minPairs: 1 });
    const resized = (file: string) => {
      const im = decodePngRgb(readFileSync(file), file);
      return resizeLinear8u(im.data, im.width, im.height, 3, 512, 512);
    };
    const expected = countRgb(resized(join(pred, 'p_SegRefined.png')), resized(join(gt, 'p.png')));
    expect(r.images[0].counts).toEqual(expected);
    expect(r.images[0].predictionSize).toEqual([300, 200]);
    expect(r.images[0].groundTruthSize).toEqual([700, 900]);
    // Bilinear up-scaling before thresholding grows masks: more foreground than the plain scaled disc.
    expect(expected.negative.fn).toBeGreaterThan(0);
  });

  const PYTHON = '/usr/bin/python3';
  const hasCv2 = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import cv2, numpy'], { stdio: 'ignore' }).status === 0;
  (hasCv2 ? it : it.skip)('counts like cv2.imread + cv2.resize + numpy on this machine (python3-opencv), palette and 16-bit files included', async () => {
    const { gt, pred } = folders();
    const next = lcg(99);
    const sizes = [[512, 512], [333, 517], [1024, 1024], [640, 480]];
    sizes.forEach(([w, h], n) => {
      const samples: number[] = [];
      for (let i = 0; i < w * h; i++) samples.push(next() < 60 ? 1 + (next() % 3) : 0);
      // Prediction: a palette PNG; ground truth: a 16-bit RGB PNG (high bytes 0/255, low bytes noise).
      const palette: [number, number, number][] = [[0, 0, 0], [255, 0, 0], [0, 0, 255], [128, 0, 1]];
      writeFileSync(join(pred, `i${n}_SegRefined.png`), encodePng({ width: w, height: h, colorType: 3, bitDepth: 8, samples, palette }));
      const gtSamples: number[] = [];
      for (let i = 0; i < w * h; i++) {
        const v = samples[(i + w + 3) % samples.length];
        gtSamples.push(v === 1 ? 0xff00 : next(), next(), v === 2 ? 0xff00 | next() : next() >> 1);
      }
      writeFileSync(join(gt, `i${n}.png`), encodePng({ width: w, height: h, colorType: 2, bitDepth: 16, samples: gtSamples }));
    });
    const r = await segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, {});
    const script = [
      'import sys, os, json, cv2, numpy as np',
      'gt, pred = sys.argv[1], sys.argv[2]',
      'out = {}',
      'for name in sorted(os.listdir(pred)):',
      '    def load(p):',
      '        im = cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)',
      '        return cv2.resize(im, (512, 512))',
      '    p = load(os.path.join(pred, name)); g = load(os.path.join(gt, name.replace("_SegRefined.png", ".png")))',
      '    def c(ch):',
      '        a, b = p[:, :, ch] > 0, g[:, :, ch] > 0',
      '        return {"tp": int((a & b).sum()), "fp": int((a & ~b).sum()), "fn": int((~a & b).sum()), "tn": int((~a & ~b).sum())}',
      '    out[name.replace("_SegRefined.png", ".png")] = {"positive": c(0), "negative": c(2)}',
      'json.dump(out, sys.stdout)',
    ].join('\n');
    const run = spawnSync(PYTHON, ['-c', script, gt, pred], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    const expected = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.fromEntries(r.images.map((im) => [im.name, im.counts]))).toEqual(expected);
  });
});

describe('choosing the pairs of a run', () => {
  const entry = (path: string, daysAgo = 0, now = Date.UTC(2024, 5, 15, 12)): FileEntry => ({ path, size: 10, mtimeMs: now - daysAgo * 86_400_000 });
  const now = Date.UTC(2024, 5, 15, 12);

  it('pairs NAME_SegRefined.png with NAME.png by default and ignores other files and sub-folders', () => {
    const s = selectSegmentationPairs(
      [entry('a_SegRefined.png'), entry('a_Seg.png'), entry('a_Hema.png'), entry('b_SegRefined.png'), entry('c.json'), entry('sub/d_SegRefined.png'), entry('e_SegRefined.png')],
      [entry('a.png'), entry('b.png'), entry('e.png'), entry('extra.png'), entry('sub/d.png')],
      {},
    );
    expect(s.pairs.map((p) => [p.prediction.path, p.groundTruth.path])).toEqual([['a_SegRefined.png', 'a.png'], ['b_SegRefined.png', 'b.png'], ['e_SegRefined.png', 'e.png']]);
    expect(s.unpairedGroundTruth).toEqual(['extra.png']);
  });

  it('supports the raw suffix and the same-name ground-truth variant', () => {
    const raw = selectSegmentationPairs([entry('a_Seg.png'), entry('b_Seg.png'), entry('c_Seg.png'), entry('a_SegRefined.png')], [entry('a.png'), entry('b.png'), entry('c.png')], { predictionSuffix: '_Seg.png', minPairs: 3 });
    expect(raw.pairs.map((p) => p.groundTruth.path)).toEqual(['a.png', 'b.png', 'c.png']);
    const same = selectSegmentationPairs([entry('a_Seg.png')], [entry('a_Seg.png'), entry('a.png')], { predictionSuffix: '_Seg.png', groundTruthName: 'same-name', minPairs: 1 });
    expect(same.pairs.map((p) => [p.name, p.groundTruth.path])).toEqual([['a_Seg.png', 'a_Seg.png']]);
  });

  it('fails on a prediction without ground truth, naming the file and the expected name', () => {
    let error: unknown;
    try {
      selectSegmentationPairs([entry('a_SegRefined.png'), entry('lost_SegRefined.png')], [entry('a.png')], { minPairs: 1 }, { prediction: '/v/pred', groundTruth: '/v/gt' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe('1 prediction has no ground truth in /v/gt: lost_SegRefined.png (expected lost.png)');
    expect((error as ValidationError).issues).toEqual([{ path: '/v/pred/lost_SegRefined.png', message: 'no ground truth expected lost.png' }]);
  });

  it('fails clearly on an empty prediction folder and on one without matching names', () => {
    expect(() => selectSegmentationPairs([], [entry('a.png')], {}, { prediction: '/p', groundTruth: '/g' })).toThrow('the prediction folder /p is empty');
    expect(() => selectSegmentationPairs([entry('a.png')], [entry('a.png')], {}, { prediction: '/p', groundTruth: '/g' })).toThrow(
      'the prediction folder /p has no file named *_SegRefined.png',
    );
  });

  it('needs at least 3 pairs by default and says how many it found', () => {
    expect(() => selectSegmentationPairs([entry('a_SegRefined.png'), entry('b_SegRefined.png')], [entry('a.png'), entry('b.png')])).toThrow(
      'a segmentation run needs at least 3 prediction/ground-truth pairs; found 2',
    );
    expect(selectSegmentationPairs([entry('a_SegRefined.png')], [entry('a.png')], { minPairs: 1 }).pairs).toHaveLength(1);
  });

  it('with a window keeps pairs whose two files are recent, and reports the rest', () => {
    const preds = [entry('a_SegRefined.png', 1), entry('b_SegRefined.png', 2.9), entry('c_SegRefined.png', 3.5), entry('d_SegRefined.png', 0.5), entry('e_SegRefined.png', 1)];
    const gts = [entry('a.png', 30), entry('b.png', 0), entry('d.png', 2), entry('e.png', 3)];
    // c is too old (and its missing ground truth is then not an error); a's ground truth is too old.
    const s = selectSegmentationPairs(preds, gts, { mostRecentDays: 3, now, minPairs: 1 });
    expect(s.pairs.map((p) => p.name)).toEqual(['b.png', 'd.png', 'e.png']);
    expect(s.notRecent).toBe(2);
    expect(s.window).toEqual({ mostRecentDays: 3, since: '2024-06-12T12:00:00.000Z' });
    expect(() => selectSegmentationPairs(preds, gts, { mostRecentDays: 3, now, minPairs: 4 })).toThrow(
      'a segmentation run needs at least 4 recent prediction/ground-truth pairs (both files modified since 2024-06-12T12:00:00.000Z, the last 3 days); found 3 (5 prediction file(s) *_SegRefined.png, 4 recent, 1 of those with an older ground truth)',
    );
    expect(() => selectSegmentationPairs(preds, gts, { mostRecentDays: 0.1, now })).toThrow(/found 0 \(5 prediction file\(s\) \*_SegRefined\.png, 0 recent/);
  });

  it('counts a file modified exactly at the window start as recent, and 1 ms earlier as not', () => {
    const since = now - 2 * 86_400_000;
    const at = (path: string, ms: number): FileEntry => ({ path, size: 1, mtimeMs: ms });
    const s = selectSegmentationPairs([at('a_SegRefined.png', since), at('b_SegRefined.png', since - 1)], [at('a.png', since), at('b.png', since)], { mostRecentDays: 2, now, minPairs: 1 });
    expect(s.pairs.map((p) => p.name)).toEqual(['a.png']);
  });

  it('rejects bad options with a validation error naming the option', () => {
    expect(() => selectSegmentationPairs([entry('a_SegRefined.png')], [entry('a.png')], { minPairs: 0 })).toThrow(/invalid segmentation options: minPairs/);
    expect(() => selectSegmentationPairs([entry('a_SegRefined.png')], [entry('a.png')], { mostRecentDays: -1 })).toThrow(/mostRecentDays/);
  });

  it('uses file modification times on local folders', async () => {
    const { gt, pred } = folders();
    const old = new Date(Date.now() - 10 * 86_400_000);
    for (const n of ['a', 'b', 'c', 'd']) {
      writeRgbPng(join(pred, `${n}_SegRefined.png`), 8, 8, () => [255, 0, 0]);
      writeRgbPng(join(gt, `${n}.png`), 8, 8, () => [255, 0, 0]);
    }
    setMtime(join(pred, 'd_SegRefined.png'), old);
    const r = await segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { mostRecentDays: 5 });
    expect(r.images.map((i) => i.name)).toEqual(['a.png', 'b.png', 'c.png']);
    expect(r.selection.notRecent).toBe(1);
    setMtime(join(gt, 'a.png'), old);
    await expect(segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { mostRecentDays: 5 })).rejects.toThrow(/needs at least 3 recent .*; found 2/);
  });
});

describe('a bad file fails the run with its name (never skipped)', () => {
  it.each([0, 2])('corrupt, truncated and non-PNG files (%i workers)', async (workers) => {
    const { gt, pred } = folders();
    for (const n of ['a', 'b', 'c', 'd']) {
      writeRgbPng(join(pred, `${n}_SegRefined.png`), 64, 64, (x) => [x > 20 ? 255 : 0, 0, 0]);
      writeRgbPng(join(gt, `${n}.png`), 64, 64, (x) => [x > 30 ? 255 : 0, 0, 0]);
    }
    const good = readFileSync(join(pred, 'b_SegRefined.png'));
    writeFileSync(join(pred, 'b_SegRefined.png'), good.subarray(0, good.length - 30));
    writeFileSync(join(gt, 'd.png'), 'this is a text file');
    const run = segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { workers });
    // The first bad pair in name order is reported.
    await expect(run).rejects.toThrow(`${join(pred, 'b_SegRefined.png')}: corrupt PNG`);
    await expect(run).rejects.toBeInstanceOf(ValidationError);
    writeFileSync(join(pred, 'b_SegRefined.png'), good);
    await expect(segmentationMetricsForFolders({ groundTruth: gt, prediction: pred }, { workers })).rejects.toThrow(`${join(gt, 'd.png')}: not a PNG file (bad signature)`);
  });

  it('an unreadable file (a folder where a PNG should be) is named too', async () => {
    const { gt, pred } = folders();
    for (const n of ['a', 'b', 'c']) writeRgbPng(join(pred, `${n}_SegRefined.png`), 4, 4, () => [0, 0, 0]);
    for (const n of ['a', 'c']) writeRgbPng(join(gt, `${n}.png`), 4, 4, () => [0, 0, 0]);
    mkdirSync(join(gt, 'b.png'));
    await expect(computeSegmentationMetrics(['a', 'b', 'c'].map((n) => ({ name: n, prediction: join(pred, `${n}_SegRefined.png`), groundTruth: join(gt, `${n}.png`) })), { workers: 2 })).rejects.toThrow(
      `${join(gt, 'b.png')}: is a folder, not a file`,
    );
  });
});
