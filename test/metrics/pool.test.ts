import { describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunbookError, ValidationError } from '../../src/lib/errors';
import { countImagePairs, findWorkerScript, type PairInput, type Progress } from '../../src/lib/metrics/pool';
import { computeSegmentationMetrics } from '../../src/lib/metrics/segmentation';
import { tempDir, writeRgbPng } from './helpers';

jest.setTimeout(120_000);

/** n small pairs on disk: the prediction of pair i has i + 1 red columns, its ground truth 3. */
function smallPairs(n: number): PairInput[] {
  const dir = tempDir('pool-');
  return Array.from({ length: n }, (_, i) => {
    const prediction = join(dir, `p${i}_SegRefined.png`);
    const groundTruth = join(dir, `p${i}.png`);
    writeRgbPng(prediction, 16, 16, (x) => [x <= i ? 255 : 0, 0, x > 12 ? 255 : 0]);
    writeRgbPng(groundTruth, 16, 16, (x) => [x < 3 ? 255 : 0, 0, 0]);
    return { name: `p${i}.png`, prediction, groundTruth };
  });
}

describe('the counting pool', () => {
  it('finds the compiled worker script (npm test builds dist/ first)', () => {
    expect(findWorkerScript()).toMatch(/dist[\\/]src[\\/]lib[\\/]metrics[\\/]worker\.js$/);
  });

  it('returns counts in input order whatever the number of workers, and reports progress for each pair', async () => {
    const pairs = smallPairs(7);
    const runs = await Promise.all([0, 1, 2, 3].map(async (workers) => {
      const progress: Progress[] = [];
      const outcome = await countImagePairs(pairs, { workers, onProgress: (p) => progress.push(p) });
      return { outcome, progress };
    }));
    for (const { outcome, progress } of runs) {
      expect(outcome.counts).toEqual(runs[0].outcome.counts);
      expect(progress.map((p) => p.done)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(progress.every((p) => p.total === 7)).toBe(true);
      expect(new Set(progress.map((p) => p.name))).toEqual(new Set(pairs.map((p) => p.name)));
    }
    // Pair i: prediction columns 0..i (×16 rows, resized 16 → 512 keeps proportions), ground truth columns 0..2.
    const tp = runs[0].outcome.counts.map((c) => c.positive.tp);
    expect(tp[0]).toBeLessThan(tp[1]);
    expect(tp[2]).toBe(tp[6]); // from 3 columns on, the whole ground truth is found
    expect(runs.map((r) => r.outcome.execution)).toEqual([
      { mode: 'in-thread', workers: 0 },
      { mode: 'threads', workers: 1 },
      { mode: 'threads', workers: 2 },
      { mode: 'threads', workers: 3 },
    ]);
  });

  it('never starts more workers than pairs', async () => {
    const outcome = await countImagePairs(smallPairs(1), { workers: 4 });
    expect(outcome.execution).toEqual({ mode: 'threads', workers: 1 });
  });

  it('takes bytes and loader functions as well as paths (what a provider downloading from a volume passes)', async () => {
    const [pair] = smallPairs(1);
    const fromPaths = await computeSegmentationMetrics([pair], { workers: 0 });
    let loads = 0;
    const loader = (path: string) => async (): Promise<Uint8Array> => {
      loads++;
      return readFileSync(path);
    };
    for (const workers of [0, 2]) {
      const fromBytes = await computeSegmentationMetrics([{ name: pair.name, prediction: readFileSync(pair.prediction as string), groundTruth: readFileSync(pair.groundTruth as string) }], { workers });
      const fromLoaders = await computeSegmentationMetrics([{ name: pair.name, prediction: loader(pair.prediction as string), groundTruth: loader(pair.groundTruth as string) }], { workers });
      expect(fromBytes.metrics).toEqual(fromPaths.metrics);
      expect(fromLoaders.metrics).toEqual(fromPaths.metrics);
    }
    expect(loads).toBe(4);
  });

  it('names the pair when a loader fails or a downloaded file is corrupt', async () => {
    const [pair] = smallPairs(1);
    const failing: PairInput = { name: 'x.png', prediction: pair.prediction, groundTruth: async () => { throw new Error('HTTP 404'); } };
    await expect(countImagePairs([failing], { workers: 0 })).rejects.toThrow('x.png (ground truth): cannot be read (HTTP 404)');
    const labelled: PairInput = { name: 'x.png', prediction: Buffer.from('junk'), groundTruth: pair.groundTruth, labels: { prediction: 'volume:/pred/x_SegRefined.png', groundTruth: 'volume:/gt/x.png' } };
    await expect(countImagePairs([labelled], { workers: 2 })).rejects.toThrow('volume:/pred/x_SegRefined.png: not a PNG file (bad signature)');
    // Both loaders failing: one clear error, no unhandled rejection.
    const both: PairInput = { name: 'z.png', prediction: async () => { throw new Error('timeout'); }, groundTruth: async () => { throw new Error('HTTP 500'); } };
    await expect(countImagePairs([both], { workers: 0 })).rejects.toThrow('z.png (prediction): cannot be read (timeout)');
    // A RunbookError from a loader (e.g. a remote failure) keeps its kind.
    const remote: PairInput = { name: 'y.png', prediction: async () => { throw new RunbookError('remote', 'volume API answered 503'); }, groundTruth: pair.groundTruth };
    await expect(countImagePairs([remote], { workers: 1 })).rejects.toMatchObject({ kind: 'remote', message: 'volume API answered 503' });
  });

  it('stops taking new pairs after a failure and reports the first failing pair in input order', async () => {
    const pairs = smallPairs(12);
    const broken = pairs.map((p, i) => (i === 4 || i === 9 ? { ...p, prediction: Buffer.from(`bad ${i}`) } : p));
    const progress: Progress[] = [];
    for (const workers of [0, 2]) {
      await expect(countImagePairs(broken, { workers, onProgress: (p) => progress.push(p) })).rejects.toThrow('p4.png (prediction): not a PNG file');
    }
    // In the calling thread nothing after the failure is attempted.
    expect(progress.slice(0, 4).map((p) => p.name)).toEqual(['p0.png', 'p1.png', 'p2.png', 'p3.png']);
  });

  it('can be cancelled with an AbortSignal', async () => {
    const pairs = smallPairs(6);
    const controller = new AbortController();
    const run = countImagePairs(pairs, {
      workers: 2,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done === 1) controller.abort(new Error('provider timeout'));
      },
    });
    await expect(run).rejects.toThrow('segmentation metrics cancelled: provider timeout');
    const already = new AbortController();
    already.abort();
    await expect(countImagePairs(pairs, { signal: already.signal })).rejects.toThrow(/cancelled/);
  });

  it('rejects bad options, empty input and duplicate pair names', async () => {
    await expect(countImagePairs([], { workers: -1 })).rejects.toThrow(ValidationError);
    await expect(countImagePairs([], { workers: 1.5 })).rejects.toThrow(/workers must be 'auto' or an integer/);
    await expect(computeSegmentationMetrics([])).rejects.toThrow('no prediction/ground-truth pairs to evaluate');
    const [pair] = smallPairs(1);
    await expect(computeSegmentationMetrics([pair, pair])).rejects.toThrow('pair "p0.png" is listed twice');
  });
});
