import { InvalidArgumentError, type Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { resolve } from 'node:path';
import {
  DEFAULT_MIN_PAIRS,
  DEFAULT_PREDICTION_SUFFIX,
  RAW_PREDICTION_SUFFIX,
  SEGMENTATION_METRIC_NAMES,
  genericMetricsForFolders,
  imageMetrics,
  segmentationMetricUnit,
  segmentationMetricsForFolders,
  toMetricIds,
  type Progress,
} from '../../lib/metrics';
import { GENERIC_MONITOR, metricIdFromName } from '../../lib/monitors/definitions';

/** Below this many pairs a progress bar would only flicker. */
const PROGRESS_MIN_PAIRS = 20;

function nonNegativeNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag}: expected a number ≥ 0, got '${value}'`);
    return n;
  };
}

function integerAtLeast(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag}: expected an integer ≥ ${min}, got '${value}'`);
    return n;
  };
}

/** A plain table: columns padded to their widest cell, numbers right-aligned. */
function table(rows: readonly (readonly string[])[], rightAligned: readonly number[]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) => r.map((cell, c) => (rightAligned.includes(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd())
    .join('\n');
}

function formatValue(value: number, unit: string): string {
  if (unit === 'count') return String(value);
  return unit === 'percent' ? value.toFixed(4) : value.toFixed(6);
}

/** A progress bar on stderr when it is a terminal and the set is long enough; otherwise nothing. */
function progressReporter(enabled: boolean): { onProgress?: (p: Progress) => void; stop: () => void } {
  if (!enabled || !process.stderr.isTTY) return { stop: () => undefined };
  let bar: SingleBar | null = null;
  return {
    onProgress: (p) => {
      if (p.total < PROGRESS_MIN_PAIRS) return;
      if (!bar) {
        bar = new SingleBar({ stream: process.stderr, format: 'counting pairs [{bar}] {value}/{total} {percentage}% eta {eta}s', hideCursor: true, clearOnComplete: true });
        bar.start(p.total, 0);
      }
      bar.update(p.done);
    },
    stop: () => bar?.stop(),
  };
}

interface SegmentationCliOptions {
  gt: string;
  pred: string;
  raw?: boolean;
  suffix?: string;
  gtSameName?: boolean;
  mostRecent?: number;
  minPairs: number;
  workers?: number;
  perImage?: boolean;
  ids?: boolean;
  json?: boolean;
  progress: boolean;
}

interface GenericCliOptions {
  gt: string;
  pred: string;
  mostRecent: number;
  json?: boolean;
}

export function register(program: Command): void {
  const metrics = program
    .command('metrics')
    .description('Compute the custom monitors\' metrics on local folders (what the OpenScale providers publish).');

  metrics
    .command('segmentation')
    .description(
      'DeepLIIF segmentation metrics of predicted masks against ground-truth masks: pairs NAME_SegRefined.png ' +
        'with NAME.png, resizes to 512×512 as DeepLIIF does, positive = red > 0, negative = blue > 0.',
    )
    .requiredOption('--gt <dir>', 'folder of ground-truth masks (NAME.png)')
    .requiredOption('--pred <dir>', 'folder of predicted masks (NAME_SegRefined.png)')
    .option('--raw', `evaluate DeepLIIF's raw output: predictions named NAME${RAW_PREDICTION_SUFFIX} (channels read as they are)`)
    .option('--suffix <suffix>', `file-name ending of predictions (default ${DEFAULT_PREDICTION_SUFFIX}, or ${RAW_PREDICTION_SUFFIX} with --raw)`)
    .option('--gt-same-name', 'the ground truth has the same name as the prediction (a DeepLIIF variant) instead of NAME.png')
    .option('--most-recent <days>', 'only pairs whose two files were modified in the last DAYS days (default: all pairs)', nonNegativeNumber('--most-recent'))
    .option('--min-pairs <n>', 'fail when fewer pairs than this are selected', integerAtLeast('--min-pairs', 1), DEFAULT_MIN_PAIRS)
    .option('--workers <n>', 'worker threads (0 = count in the main thread; default: one per core)', integerAtLeast('--workers', 0))
    .option('--per-image', 'also list every image\'s counts and metrics')
    .option('--ids', 'key the metrics by OpenScale metric id (lower case: dice, iou, pixacc) instead of the monitor\'s names')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress bar')
    .addHelpText(
      'after',
      '\nUnits: precision, recall, f1, Dice, IOU, PixAcc in percent (0-100); their _positive/_negative in fractions (0-1).\n' +
        'A corrupt or unreadable PNG, or a prediction without ground truth, fails the run with a message naming the file (exit code 8).',
    )
    .action(async (opts: SegmentationCliOptions) => {
      const progress = progressReporter(opts.progress && !opts.json);
      let result;
      try {
        result = await segmentationMetricsForFolders(
          { groundTruth: resolve(opts.gt), prediction: resolve(opts.pred) },
          {
            predictionSuffix: opts.suffix ?? (opts.raw ? RAW_PREDICTION_SUFFIX : DEFAULT_PREDICTION_SUFFIX),
            groundTruthName: opts.gtSameName ? 'same-name' : 'strip-suffix',
            mostRecentDays: opts.mostRecent,
            minPairs: opts.minPairs,
            workers: opts.workers ?? 'auto',
            onProgress: progress.onProgress,
          },
        );
      } finally {
        progress.stop();
      }
      const published = opts.ids ? toMetricIds(result.metrics) : result.metrics;
      if (opts.json) {
        const out = {
          metrics: published,
          units: Object.fromEntries(SEGMENTATION_METRIC_NAMES.map((n) => [opts.ids ? metricIdFromName(n) : n, segmentationMetricUnit(n)])),
          selection: result.selection,
          execution: result.execution,
          ...(opts.perImage ? { images: result.images.map((im) => ({ ...im, metrics: imageMetrics(im.counts) })) } : {}),
        };
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        return;
      }
      const rows: string[][] = [['metric', 'value', 'unit']];
      for (const name of SEGMENTATION_METRIC_NAMES) {
        const unit = segmentationMetricUnit(name);
        rows.push([opts.ids ? metricIdFromName(name) : name, formatValue(result.metrics[name], unit), unit]);
      }
      const s = result.selection;
      const window = s.window ? `, modified since ${s.window.since}` : '';
      const left = s.notRecent > 0 ? `; ${s.notRecent} older pair(s) left out` : '';
      process.stdout.write(`${s.pairs} pair(s) evaluated${window}${left}\n\n${table(rows, [1])}\n`);
      if (opts.perImage) {
        const imageRows: string[][] = [['image', 'size', 'pos TP/FP/FN/TN', 'neg TP/FP/FN/TN', 'Dice %', 'IOU %', 'PixAcc %']];
        for (const im of result.images) {
          const mean = imageMetrics(im.counts).mean;
          const c = (k: 'positive' | 'negative'): string => `${im.counts[k].tp}/${im.counts[k].fp}/${im.counts[k].fn}/${im.counts[k].tn}`;
          imageRows.push([
            im.name,
            `${im.predictionSize.join('×')}|${im.groundTruthSize.join('×')}`,
            c('positive'),
            c('negative'),
            mean.Dice.toFixed(2),
            mean.IOU.toFixed(2),
            mean.PixAcc.toFixed(2),
          ]);
        }
        process.stdout.write(`\n${table(imageRows, [4, 5, 6])}\n`);
      }
    });

  metrics
    .command('generic')
    .description(
      'Image counts of the generic_metrics monitor: images (files ending .png .jpg .jpeg .tif .tiff, in sub-folders too) ' +
        'in the ground-truth and prediction folders, in total and modified in the last DAYS days.',
    )
    .requiredOption('--gt <dir>', 'folder of ground-truth images')
    .requiredOption('--pred <dir>', 'folder of predicted images')
    .requiredOption('--most-recent <days>', 'recent = modified at or after now minus DAYS × 24 h', nonNegativeNumber('--most-recent'))
    .option('--json', 'print the result as JSON')
    .action(async (opts: GenericCliOptions) => {
      const result = await genericMetricsForFolders({ groundTruth: resolve(opts.gt), prediction: resolve(opts.pred) }, { mostRecentDays: opts.mostRecent });
      if (opts.json) {
        process.stdout.write(JSON.stringify({ metrics: result.metrics, units: Object.fromEntries(GENERIC_MONITOR.metrics.map((m) => [m.name, m.unit])), since: result.since, ignored: result.ignored }, null, 2) + '\n');
        return;
      }
      const rows: string[][] = [['metric', 'value', 'unit']];
      for (const m of GENERIC_MONITOR.metrics) rows.push([m.name, String(result.metrics[m.name as keyof typeof result.metrics]), m.unit]);
      const ignored = result.ignored.groundTruth + result.ignored.predicted;
      process.stdout.write(`recent = modified since ${result.since}${ignored > 0 ? `; ${ignored} non-image file(s) not counted` : ''}\n\n${table(rows, [1])}\n`);
    });
}
