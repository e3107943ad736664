/**
 * A run's metrics from the files of a storage volume: list the ground-truth and prediction
 * folders, then either count images (generic) or choose the recent prediction/ground-truth pairs,
 * download them into a private temp dir (bounded concurrency, removed afterwards) and compute the
 * DeepLIIF segmentation metrics with the worker pool. Any bad file or too few pairs fails the run
 * with a message naming it; nothing is skipped and no number is made up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../errors';
import type { HttpClient } from '../http/client';
import type { MonitorConfig } from '../metadata/schema';
import type { FileEntry } from '../metrics/files';
import { genericMetrics } from '../metrics/generic';
import { computeSegmentationMetrics, selectSegmentationPairs } from '../metrics/segmentation';
import { mapLimit } from '../util/map-limit';
import { downloadVolumeFile, listVolume, type VolumeEntry } from '../volumes/client';
import type { MonitorKind } from './kinds';

/**
 * Monitor-specific settings the provider reads from `parameters` of a monitor's metadata entry
 * (all optional; unknown keys are an error so that typos do not pass silently).
 */
export const ProviderParameters = z.strictObject({
  /** Prediction file-name ending (default `_SegRefined.png`). */
  prediction_suffix: z.string().min(1).optional(),
  /** `strip-suffix` (NAME_SegRefined.png ↔ NAME.png, default) or `same-name`. */
  ground_truth_name: z.enum(['strip-suffix', 'same-name']).optional(),
  /** Fewest pairs a segmentation run needs (default 3). */
  min_pairs: z.number().int().min(1).optional(),
  /** What counts as an image for the generic counts (default .png .jpg .jpeg .tif .tiff). */
  image_extensions: z.array(z.string().regex(/^\.[^/\\]+$/, 'an extension such as .png')).min(1).optional(),
});
export type ProviderParameters = z.infer<typeof ProviderParameters>;

/** What a computation needs besides the monitor settings. */
export interface ComputeOptions {
  /** The CPD client the storage volume is read through. */
  readonly cpd: HttpClient;
  readonly signal?: AbortSignal;
  /** Where per-run temp dirs go (default the OS temp dir). */
  readonly tempRoot?: string;
  /** Files downloaded at once (default 4). */
  readonly downloadConcurrency?: number;
  /** Worker threads for the segmentation counts (default 'auto'). */
  readonly workers?: number | 'auto';
  /** Reference time of the "recent" window (default now). */
  readonly now?: Date;
  /** Progress notes (listing, downloading, counting). */
  readonly onStep?: (step: string, detail: string) => void;
}

/** A computation's outcome: the metrics by monitor-definition name, and what they were computed from. */
export interface ComputedMetrics {
  readonly metrics: Record<string, number>;
  readonly details: Record<string, unknown>;
}

function parameters(config: MonitorConfig): ProviderParameters {
  const parsed = ProviderParameters.safeParse(config.parameters ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: `parameters.${i.path.join('.')}`, message: i.message }));
    throw new ValidationError(`monitor settings: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  return parsed.data;
}

function entries(list: readonly VolumeEntry[]): FileEntry[] {
  return list.filter((e) => e.type === 'file').map((e) => ({ path: e.path, size: e.size, mtimeMs: e.mtime.getTime() }));
}

const joinPath = (dir: string, rel: string) => `${dir.replace(/\/+$/, '')}/${rel}`;

/** Computes a run's metrics; see the module comment. */
export async function computeMonitorMetrics(kind: MonitorKind, config: MonitorConfig, options: ComputeOptions): Promise<ComputedMetrics> {
  const params = parameters(config);
  const volume = config.volume_display_name;
  const now = options.now ?? new Date();
  const step = options.onStep ?? (() => undefined);
  const label = (dir: string) => `${volume}:${dir}`;

  if (kind === 'generic') {
    step('list', `${label(config.dir_gt)} and ${label(config.dir_pred)} (recursive)`);
    const [gt, pred] = await Promise.all([
      listVolume(options.cpd, volume, config.dir_gt, { filesOnly: true, signal: options.signal }),
      listVolume(options.cpd, volume, config.dir_pred, { filesOnly: true, signal: options.signal }),
    ]);
    const result = genericMetrics(entries(gt), entries(pred), { mostRecentDays: config.most_recent, now, imageExtensions: params.image_extensions });
    return { metrics: { ...result.metrics }, details: { since: result.since, ignored: result.ignored } };
  }

  // DeepLIIF pairs files directly in the folders: no need to list sub-folders.
  step('list', `${label(config.dir_gt)} and ${label(config.dir_pred)}`);
  const [gt, pred] = await Promise.all([
    listVolume(options.cpd, volume, config.dir_gt, { recursive: false, filesOnly: true, signal: options.signal }),
    listVolume(options.cpd, volume, config.dir_pred, { recursive: false, filesOnly: true, signal: options.signal }),
  ]);
  const selection = selectSegmentationPairs(
    entries(pred),
    entries(gt),
    { mostRecentDays: config.most_recent, minPairs: params.min_pairs, predictionSuffix: params.prediction_suffix, groundTruthName: params.ground_truth_name, now },
    { prediction: label(config.dir_pred), groundTruth: label(config.dir_gt) },
  );
  const dir = await mkdtemp(join(options.tempRoot ?? tmpdir(), 'runbook-provider-'));
  try {
    const jobs = selection.pairs.map((p, i) => ({
      name: p.name,
      pred: { remote: joinPath(config.dir_pred, p.prediction.path), local: join(dir, 'pred', `${i}.png`) },
      gt: { remote: joinPath(config.dir_gt, p.groundTruth.path), local: join(dir, 'gt', `${i}.png`) },
    }));
    step('download', `${jobs.length} pairs (${jobs.length * 2} files) into a temp dir`);
    const files = jobs.flatMap((j) => [j.pred, j.gt]);
    await mapLimit(files, options.downloadConcurrency ?? 4, (f) => downloadVolumeFile(options.cpd, volume, f.remote, f.local, { signal: options.signal }));
    step('compute', `${jobs.length} pairs`);
    const result = await computeSegmentationMetrics(
      jobs.map((j) => ({ name: j.name, prediction: j.pred.local, groundTruth: j.gt.local, labels: { prediction: label(j.pred.remote), groundTruth: label(j.gt.remote) } })),
      { workers: options.workers ?? 'auto', signal: options.signal },
    );
    return {
      metrics: { ...result.metrics },
      details: { pairs: jobs.length, predictions: selection.predictions, notRecent: selection.notRecent, window: selection.window, execution: result.execution },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
