/**
 * One unit of work of a segmentation run — decode a prediction/ground-truth pair and count it — in
 * a form that crosses a worker-thread boundary (plain data in, plain data out). Used by the worker
 * script and by the in-thread path alike, so both compute the same thing.
 */
import { readFileSync } from 'node:fs';
import { RunbookError, ValidationError, type ErrorKind } from '../errors';
import { countPngPair, type PngPairCounts } from './masks';

/** Bump when CountJob/CountReply change, so a stale compiled worker is detected. */
export const WORKER_PROTOCOL = 2;

export type JobImage = { readonly path: string } | { readonly bytes: Uint8Array };

export interface CountJob {
  readonly id: number;
  readonly prediction: JobImage;
  readonly groundTruth: JobImage;
  /** How the two files are named in error messages. */
  readonly labels: { readonly prediction: string; readonly groundTruth: string };
  readonly maxPixels?: number;
}

export interface SerializedError {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly issues: readonly { path: string; message: string }[];
}

/**
 * A pair's counts as 12 numbers — positive TP, FP, FN, TN, negative TP, FP, FN, TN, prediction
 * width, height, ground-truth width, height — so replies cost the receiving thread little.
 */
export type PackedCounts = readonly number[];

export function packCounts(c: PngPairCounts): PackedCounts {
  return [c.positive.tp, c.positive.fp, c.positive.fn, c.positive.tn, c.negative.tp, c.negative.fp, c.negative.fn, c.negative.tn, ...c.predictionSize, ...c.groundTruthSize];
}

export function unpackCounts(p: ArrayLike<number>, at = 0): PngPairCounts {
  return {
    positive: { tp: p[at], fp: p[at + 1], fn: p[at + 2], tn: p[at + 3] },
    negative: { tp: p[at + 4], fp: p[at + 5], fn: p[at + 6], tn: p[at + 7] },
    predictionSize: [p[at + 8], p[at + 9]],
    groundTruthSize: [p[at + 10], p[at + 11]],
  };
}

export type CountReply =
  | { readonly id: number; readonly ok: true; readonly counts: PackedCounts }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError };

function readImage(image: JobImage, label: string): Uint8Array {
  if ('bytes' in image) return image.bytes;
  try {
    return readFileSync(image.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not a file' : `unreadable (${(err as Error).message})`;
    throw new ValidationError(`${label}: ${problem}`, [{ path: label, message: problem }]);
  }
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof ValidationError) return { kind: err.kind, message: err.message, issues: err.issues };
  if (err instanceof RunbookError) return { kind: err.kind, message: err.message, issues: [] };
  return { kind: 'internal', message: err instanceof Error ? err.message : String(err), issues: [] };
}

export function deserializeError(e: SerializedError): RunbookError {
  return e.kind === 'validation' ? new ValidationError(e.message, e.issues) : new RunbookError(e.kind, e.message);
}

/** Runs one job synchronously; never throws (failures become an error reply). */
export function runCountJob(job: CountJob): CountReply {
  try {
    const prediction = readImage(job.prediction, job.labels.prediction);
    const groundTruth = readImage(job.groundTruth, job.labels.groundTruth);
    const counts = countPngPair(prediction, groundTruth, job.labels, { maxPixels: job.maxPixels });
    return { id: job.id, ok: true, counts: packCounts(counts) };
  } catch (err) {
    return { id: job.id, ok: false, error: serializeError(err) };
  }
}
