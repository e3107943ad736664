/**
 * Which prediction is compared with which ground truth. As in DeepLIIF, only files directly in the
 * prediction folder are considered; a prediction is a file whose name ends with the prediction
 * suffix (default `_SegRefined.png`), and its ground truth is, by default, the same name with the
 * suffix replaced by `.png` (`NAME_SegRefined.png` → `NAME.png`). One DeepLIIF variant instead pairs
 * `NAME_Seg.png` with a ground truth of the same name: `groundTruthName: 'same-name'`.
 * Every prediction must have its ground truth; ground-truth files without a prediction are listed
 * but are not an error (DeepLIIF ignores them too).
 */
import { z } from 'zod';
import { ValidationError } from '../errors';
import { parseOptions } from './options';
import type { FileEntry } from './files';

/** The suffix of DeepLIIF's refined segmentation output: the prediction masks by default. */
export const DEFAULT_PREDICTION_SUFFIX = '_SegRefined.png';
/** The suffix of DeepLIIF's raw segmentation output (`--raw`). */
export const RAW_PREDICTION_SUFFIX = '_Seg.png';

/** How prediction files are recognised and matched with their ground truth. */
export const PairingOptionsSchema = z.object({
  /** File-name ending that marks a prediction mask. */
  predictionSuffix: z.string().min(1).default(DEFAULT_PREDICTION_SUFFIX),
  /** `strip-suffix`: NAME<suffix> ↔ NAME.png; `same-name`: the ground truth has the prediction's own name. */
  groundTruthName: z.enum(['strip-suffix', 'same-name']).default('strip-suffix'),
});
/** Pairing options as callers pass them (see PairingOptionsSchema). */
export type PairingOptions = z.input<typeof PairingOptionsSchema>;

/** A prediction mask and its ground truth, as listed. */
export interface ImagePair {
  /** The ground truth's file name: the image's identity in results and their order. */
  readonly name: string;
  readonly prediction: FileEntry;
  readonly groundTruth: FileEntry;
}

/** The outcome of pairing two listings by name. */
export interface Pairing {
  /** Sorted by name. */
  readonly pairs: ImagePair[];
  /** Ground-truth files (top level) that no prediction refers to. */
  readonly unpairedGroundTruth: string[];
}

/** The ground-truth file name for a prediction file name. */
export function groundTruthNameFor(predictionName: string, options: PairingOptions = {}): string {
  const o = parseOptions(PairingOptionsSchema, options, 'pairing options');
  return o.groundTruthName === 'same-name' ? predictionName : predictionName.slice(0, -o.predictionSuffix.length) + '.png';
}

const topLevel = (e: FileEntry): boolean => !e.path.includes('/');

/**
 * Pairs predictions with ground truths by file name. `folders` name the two sides in errors.
 * Throws a ValidationError when no prediction matches the suffix or a prediction has no ground truth.
 */
export function pairByName(
  predictions: readonly FileEntry[],
  groundTruths: readonly FileEntry[],
  options: PairingOptions = {},
  folders: { prediction: string; groundTruth: string } = { prediction: 'prediction folder', groundTruth: 'ground-truth folder' },
): Pairing {
  const o = parseOptions(PairingOptionsSchema, options, 'pairing options');
  const gtByName = new Map(groundTruths.filter(topLevel).map((e) => [e.path, e]));
  const candidates = predictions.filter((e) => topLevel(e) && e.path.endsWith(o.predictionSuffix) && e.path.length > o.predictionSuffix.length);
  if (candidates.length === 0) {
    const what = predictions.length === 0 ? 'is empty' : `has no file named *${o.predictionSuffix}`;
    throw new ValidationError(`the prediction folder ${folders.prediction} ${what}`, [
      { path: folders.prediction, message: `expected files named *${o.predictionSuffix}` },
    ]);
  }
  const pairs: ImagePair[] = [];
  const missing: string[] = [];
  const used = new Set<string>();
  for (const prediction of candidates) {
    const name = groundTruthNameFor(prediction.path, o);
    const groundTruth = gtByName.get(name);
    if (!groundTruth) missing.push(`${prediction.path} (expected ${name})`);
    else {
      pairs.push({ name, prediction, groundTruth });
      used.add(name);
    }
  }
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, and ${missing.length - 5} more` : '');
    throw new ValidationError(
      `${missing.length} prediction${missing.length === 1 ? ' has' : 's have'} no ground truth in ${folders.groundTruth}: ${shown}`,
      missing.map((m) => ({ path: `${folders.prediction}/${m.split(' ')[0]}`, message: `no ground truth ${m.slice(m.indexOf('(') + 1, -1)}` })),
    );
  }
  pairs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const unpairedGroundTruth = [...gtByName.keys()].filter((n) => !used.has(n)).sort();
  return { pairs, unpairedGroundTruth };
}
