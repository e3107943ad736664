/**
 * The `generic_metrics` monitor's computation: how many ground-truth and predicted images there are,
 * in total and recently modified.
 *
 * - An image is a file (never a folder) whose name ends with an image extension (default .png,
 *   .jpg, .jpeg, .tif, .tiff, case-insensitive), anywhere under the folder. The predecessor counted
 *   every entry of a recursive listing, folders and non-image files (e.g. DeepLIIF's .json) included.
 * - Recent: modified at or after `now − most_recent × 24 h` (epoch time, so time-zone independent).
 *   The predecessor compared whole days of a naive local clock against GMT strings, which counted
 *   files up to most_recent + 1 days old and shifted with the server's time zone.
 */
import { z } from 'zod';
import { parseOptions } from './options';
import { DEFAULT_IMAGE_EXTENSIONS, isImageFile, isRecent, listFolder, recentSince, type FileEntry } from './files';

/**
 * Options of the image counts (`generic_metrics`): the recent window in days, the instant it ends
 * (default: now) and which file extensions count as images.
 */
export const GenericOptionsSchema = z.object({
  mostRecentDays: z.number().finite().nonnegative(),
  now: z.union([z.date(), z.number().finite()]).optional(),
  imageExtensions: z.array(z.string().regex(/^\.[^/\\]+$/, 'an extension such as .png')).min(1).optional(),
});
/** Options of the image counts, as callers pass them (see GenericOptionsSchema). */
export type GenericOptions = z.input<typeof GenericOptionsSchema>;

/** Keyed by the monitor definition's metric names. */
export interface GenericMetrics {
  num_images_total_ground_truth: number;
  num_images_total_predicted: number;
  num_images_recent_ground_truth: number;
  num_images_recent_predicted: number;
}

/** The image counts of one run, with the window they used and what was left out. */
export interface GenericResult {
  readonly metrics: GenericMetrics;
  /** Files modified at or after this instant counted as recent (ISO 8601, UTC). */
  readonly since: string;
  /** Files listed that are not images (not counted). */
  readonly ignored: { readonly groundTruth: number; readonly predicted: number };
}

/** Counts images in two listings (local or from a storage volume, see files.ts `normalizeEntries`). */
export function genericMetrics(groundTruth: readonly FileEntry[], predicted: readonly FileEntry[], options: GenericOptions): GenericResult {
  const o = parseOptions(GenericOptionsSchema, options, 'generic metrics options');
  const since = recentSince(o.now ?? Date.now(), o.mostRecentDays);
  const extensions = o.imageExtensions ?? DEFAULT_IMAGE_EXTENSIONS;
  const images = (entries: readonly FileEntry[]): FileEntry[] => entries.filter((e) => isImageFile(e.path, extensions));
  const gt = images(groundTruth);
  const pred = images(predicted);
  return {
    metrics: {
      num_images_total_ground_truth: gt.length,
      num_images_total_predicted: pred.length,
      num_images_recent_ground_truth: gt.filter((e) => isRecent(e, since)).length,
      num_images_recent_predicted: pred.filter((e) => isRecent(e, since)).length,
    },
    since: new Date(since).toISOString(),
    ignored: { groundTruth: groundTruth.length - gt.length, predicted: predicted.length - pred.length },
  };
}

/** Counts images under two local folders (recursively). */
export async function genericMetricsForFolders(dirs: { groundTruth: string; prediction: string }, options: GenericOptions): Promise<GenericResult> {
  parseOptions(GenericOptionsSchema, options, 'generic metrics options');
  const [gt, pred] = await Promise.all([listFolder(dirs.groundTruth, { recursive: true }), listFolder(dirs.prediction, { recursive: true })]);
  return genericMetrics(gt, pred, options);
}
