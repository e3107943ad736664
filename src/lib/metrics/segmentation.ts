/**
 * The `segmentation_metrics` monitor's computation: choose the prediction/ground-truth pairs of a
 * run (pairing by name, optional "recent" window, minimum number of pairs), count them, and
 * aggregate DeepLIIF's metrics under the monitor definition's names.
 *
 * Building blocks for the provider, which works on a storage volume rather than local folders:
 * 1. `selectSegmentationPairs(predictionListing, groundTruthListing, options)` — pure, on listings;
 * 2. download what it selected (to a temp dir, or as loaders), then
 *    `computeSegmentationMetrics(pairs, { onProgress })`;
 * 3. publish `toMetricIds(result.metrics)` (OpenScale metric ids).
 * `segmentationMetricsForFolders` does all three on local folders (the CLI's `metrics segmentation`).
 */
import { join } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../errors';
import { parseOptions } from './options';
import { isRecent, listFolder, recentSince, type FileEntry } from './files';
import { PACKED, unpackCounts } from './count-job';
import type { PairCounts } from './masks';
import { PairingOptionsSchema, pairByName, type ImagePair } from './pairing';
import { countPairsInOrder, pairGetter, type CountOptions, type Execution, type PairInput, type PairList } from './pool';
import { SegmentationMetricsAccumulator, type SegmentationMetrics } from './segmentation-math';

/** Pairs a segmentation run needs at least (the predecessor's `num_files_least`). */
export const DEFAULT_MIN_PAIRS = 3;

/**
 * Which pairs a segmentation run evaluates: pairing rules plus the recent window (`mostRecentDays`,
 * ending at `now`) and the fewest pairs the run needs.
 */
export const SegmentationSelectionSchema = PairingOptionsSchema.extend({
  /** Only pairs whose prediction and ground truth were both modified within this many days. Unset: all pairs. */
  mostRecentDays: z.number().finite().nonnegative().optional(),
  /** Fewer selected pairs than this fails the run. */
  minPairs: z.number().int().min(1).default(DEFAULT_MIN_PAIRS),
  /** Reference time of the window (default: now). */
  now: z.union([z.date(), z.number().finite()]).optional(),
});
/** Selection options as callers pass them (see SegmentationSelectionSchema). */
export type SegmentationSelectionOptions = z.input<typeof SegmentationSelectionSchema>;

/** The pairs selected for a run, and what was left out and why. */
export interface Selection {
  /** Files in the prediction folder named like a prediction. */
  readonly predictions: number;
  /** Pairs selected for the run, sorted by name. */
  readonly pairs: ImagePair[];
  /** Pairs left out because the prediction or the ground truth is older than the window. */
  readonly notRecent: number;
  readonly unpairedGroundTruth: string[];
  /** The window, when one was asked for: files modified at or after `since` (ISO 8601, UTC). */
  readonly window?: { readonly mostRecentDays: number; readonly since: string };
}

/**
 * Chooses the pairs of a run from two listings. Throws a ValidationError when there is no
 * prediction, when a (recent) prediction has no ground truth, or when fewer than `minPairs` remain.
 */
export function selectSegmentationPairs(
  predictions: readonly FileEntry[],
  groundTruths: readonly FileEntry[],
  options: SegmentationSelectionOptions = {},
  folders: { prediction: string; groundTruth: string } = { prediction: 'prediction folder', groundTruth: 'ground-truth folder' },
): Selection {
  const o = parseOptions(SegmentationSelectionSchema, options, 'segmentation options');
  const pairing = { predictionSuffix: o.predictionSuffix, groundTruthName: o.groundTruthName };
  const candidates = predictions.filter((e) => !e.path.includes('/') && e.path.endsWith(o.predictionSuffix) && e.path.length > o.predictionSuffix.length);
  if (candidates.length === 0) pairByName(predictions, groundTruths, pairing, folders); // throws the "no prediction" error

  const since = o.mostRecentDays === undefined ? undefined : recentSince(o.now ?? Date.now(), o.mostRecentDays);
  const recentPredictions = since === undefined ? candidates : candidates.filter((e) => isRecent(e, since));
  const paired = recentPredictions.length > 0
    ? pairByName(recentPredictions, groundTruths, pairing, folders)
    : { pairs: [] as ImagePair[], unpairedGroundTruth: [] as string[] };
  const pairs = since === undefined ? paired.pairs : paired.pairs.filter((p) => isRecent(p.groundTruth, since));
  const window = since === undefined ? undefined : { mostRecentDays: o.mostRecentDays as number, since: new Date(since).toISOString() };

  if (pairs.length < o.minPairs) {
    const scope = window ? `recent prediction/ground-truth pairs (both files modified since ${window.since}, the last ${window.mostRecentDays} days)` : 'prediction/ground-truth pairs';
    const detail = window
      ? ` (${candidates.length} prediction file(s) *${o.predictionSuffix}, ${recentPredictions.length} recent, ${paired.pairs.length - pairs.length} of those with an older ground truth)`
      : '';
    throw new ValidationError(`a segmentation run needs at least ${o.minPairs} ${scope}; found ${pairs.length}${detail}`, [
      { path: folders.prediction, message: `found ${pairs.length} pair(s), need ${o.minPairs}` },
    ]);
  }
  return {
    predictions: candidates.length,
    pairs,
    notRecent: candidates.length - pairs.length,
    unpairedGroundTruth: paired.unpairedGroundTruth,
    ...(window ? { window } : {}),
  };
}

/** One image's counts in a run, with the sizes of its two files as stored. */
export interface ImageResult {
  readonly name: string;
  readonly counts: PairCounts;
  /** Width and height as stored, before the resize to 512×512. */
  readonly predictionSize: readonly [number, number];
  readonly groundTruthSize: readonly [number, number];
}

/** The outcome of counting and aggregating a set of pairs. */
export interface SegmentationComputation {
  /** Keyed by the monitor definition's metric names; `<m>` in percent, `<m>_positive|negative` in fractions. */
  readonly metrics: SegmentationMetrics;
  /**
   * Per image, in the order aggregated (the input order): counts only, to keep large runs small;
   * `imageMetrics(image.counts)` gives its metrics and DeepLIIF's per-image "Mean" row. Empty with
   * `perImage: false`.
   */
  readonly images: ImageResult[];
  readonly execution: Execution;
}

/** Options of computeSegmentationMetrics: how pairs are counted, and whether per-image counts are kept. */
export interface ComputeOptions extends CountOptions {
  /**
   * Keep every image's counts in `images` (default true). `false` keeps nothing per image: the
   * metrics are summed as pairs are counted, so memory does not grow with the number of pairs.
   */
  readonly perImage?: boolean;
}

/**
 * Counts the given pairs and aggregates them, in input order (pass them sorted by name, as
 * `selectSegmentationPairs` returns them, for DeepLIIF-comparable sums). Any unreadable or
 * corrupt file fails the whole computation with an error naming the file.
 */
export async function computeSegmentationMetrics(pairs: PairList, options: ComputeOptions = {}): Promise<SegmentationComputation> {
  if (pairs.length === 0) throw new ValidationError('no prediction/ground-truth pairs to evaluate', [{ path: 'pairs', message: 'expected at least one pair' }]);
  const names = new Set<string>();
  const pairAt = pairGetter(pairs);
  for (let i = 0; i < pairs.length; i++) {
    const p = pairAt(i);
    if (names.has(p.name)) throw new ValidationError(`pair ${JSON.stringify(p.name)} is listed twice`, [{ path: p.name, message: 'duplicate pair' }]);
    names.add(p.name);
  }
  names.clear();
  const perImage = options.perImage !== false;
  const sums = new SegmentationMetricsAccumulator();
  // Per image while the run goes on: its name and 12 numbers in one growing array, not objects
  // (a few objects per pair would keep the young generation busy and make V8 grow it).
  const imageNames: string[] = [];
  let table = new Float64Array(perImage ? Math.min(pairs.length, 1024) * PACKED : 0);
  const execution = await countPairsInOrder(pairs, options, (index, c, at, pair) => {
    sums.add(unpackCounts(c, at));
    if (!perImage) return;
    if ((index + 1) * PACKED > table.length) {
      const grown = new Float64Array(Math.min(pairs.length, 2 * (index + 1)) * PACKED);
      grown.set(table);
      table = grown;
    }
    table.set(c.subarray(at, at + PACKED), index * PACKED);
    imageNames.push(pair.name);
  });
  const images: ImageResult[] = imageNames.map((name, i) => {
    const c = unpackCounts(table, i * PACKED);
    return { name, counts: { positive: c.positive, negative: c.negative }, predictionSize: c.predictionSize, groundTruthSize: c.groundTruthSize };
  });
  return { metrics: sums.result(), images, execution };
}

/** Options of segmentationMetricsForFolders: selection plus computation. */
export interface FolderRunOptions extends SegmentationSelectionOptions, ComputeOptions {}

/** The outcome of a run over two folders: the computation and the selection it used. */
export interface SegmentationResult extends SegmentationComputation {
  readonly selection: Omit<Selection, 'pairs'> & { readonly pairs: number };
}

/** The whole run on two local folders (top-level files only, as DeepLIIF lists them). */
export async function segmentationMetricsForFolders(
  dirs: { groundTruth: string; prediction: string },
  options: FolderRunOptions = {},
): Promise<SegmentationResult> {
  const [predictions, groundTruths] = await Promise.all([listFolder(dirs.prediction), listFolder(dirs.groundTruth)]);
  const { pairs, ...summary } = selectSegmentationPairs(predictions, groundTruths, options, { prediction: dirs.prediction, groundTruth: dirs.groundTruth });
  // The listings are not needed past the selection; each pair's paths are made when it is sent.
  predictions.length = 0;
  groundTruths.length = 0;
  const inputs: PairList = {
    length: pairs.length,
    get: (i) => ({ name: pairs[i].name, prediction: join(dirs.prediction, pairs[i].prediction.path), groundTruth: join(dirs.groundTruth, pairs[i].groundTruth.path) }),
  };
  const computed = await computeSegmentationMetrics(inputs, options);
  return { metrics: computed.metrics, images: computed.images, execution: computed.execution, selection: { ...summary, pairs: pairs.length } };
}
