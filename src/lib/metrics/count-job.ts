/**
 * The unit of work of a segmentation run — decode prediction/ground-truth pairs and count them — in
 * a form that crosses a worker-thread boundary (plain data in, plain data out). A batch holds a few
 * consecutive pairs, so the calling thread sends and receives one message per batch, not per pair.
 * Used by the worker script and by the in-thread path alike, so both compute the same thing.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { RunbookError, ValidationError, type ErrorKind } from '../errors';
import { countPngPair, type PngPairCounts } from './masks';
import type { PairScratch, ReusableBuffer } from './scratch';

/** Bump when CountBatch/CountReply change, so a stale compiled worker is detected. */
export const WORKER_PROTOCOL = 3;

export type JobImage = { readonly path: string } | { readonly bytes: Uint8Array };

export interface PairJob {
  readonly prediction: JobImage;
  readonly groundTruth: JobImage;
  /** How the two files are named in error messages; default: their paths (so paths are not sent twice). */
  readonly labels?: { readonly prediction: string; readonly groundTruth: string };
}

export interface CountBatch {
  /** Index of the batch's first pair in the run. */
  readonly id: number;
  readonly pairs: readonly PairJob[];
  readonly maxPixels?: number;
}

export interface SerializedError {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly issues: readonly { path: string; message: string }[];
}

/** Numbers per pair in packed counts (see packCounts). */
export const PACKED = 12;

/**
 * Writes a pair's counts as 12 numbers at `out[at…]` — positive TP, FP, FN, TN, negative TP, FP,
 * FN, TN, prediction width, height, ground-truth width, height — so replies are one typed array.
 */
export function packCounts(c: PngPairCounts, out: Float64Array, at: number): void {
  out[at] = c.positive.tp;
  out[at + 1] = c.positive.fp;
  out[at + 2] = c.positive.fn;
  out[at + 3] = c.positive.tn;
  out[at + 4] = c.negative.tp;
  out[at + 5] = c.negative.fp;
  out[at + 6] = c.negative.fn;
  out[at + 7] = c.negative.tn;
  out[at + 8] = c.predictionSize[0];
  out[at + 9] = c.predictionSize[1];
  out[at + 10] = c.groundTruthSize[0];
  out[at + 11] = c.groundTruthSize[1];
}

export function unpackCounts(p: ArrayLike<number>, at = 0): PngPairCounts {
  return {
    positive: { tp: p[at], fp: p[at + 1], fn: p[at + 2], tn: p[at + 3] },
    negative: { tp: p[at + 4], fp: p[at + 5], fn: p[at + 6], tn: p[at + 7] },
    predictionSize: [p[at + 8], p[at + 9]],
    groundTruthSize: [p[at + 10], p[at + 11]],
  };
}

/**
 * The answer to a batch: the packed counts of its pairs in order, up to the first failing pair;
 * `error` is that pair's failure (the pairs after it are not attempted).
 */
export interface CountReply {
  readonly id: number;
  readonly counts: Float64Array;
  readonly error?: SerializedError;
}

/** A regular file's bytes, read into `into` (reused from file to file); other files as readFileSync reads them. */
export function readFileInto(path: string, into: ReusableBuffer): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read`), { code: 'EISDIR' });
    if (!stat.isFile()) return readFileSync(fd);
    const buf = into.get(stat.size);
    let at = 0;
    while (at < buf.length) {
      const n = readSync(fd, buf, at, buf.length - at, null);
      if (n === 0) break; // the file shrank meanwhile: what is there
      at += n;
    }
    return buf.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

function readImage(image: JobImage, label: string, into: ReusableBuffer | undefined): Uint8Array {
  if ('bytes' in image) return image.bytes;
  try {
    return into ? readFileInto(image.path, into) : readFileSync(image.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not a file' : `unreadable (${(err as Error).message})`;
    throw new ValidationError(`${label}: ${problem}`, [{ path: label, message: problem }]);
  }
}

const labelOf = (image: JobImage, given: string | undefined): string => given ?? ('path' in image ? image.path : '(bytes)');

export function serializeError(err: unknown): SerializedError {
  if (err instanceof ValidationError) return { kind: err.kind, message: err.message, issues: err.issues };
  if (err instanceof RunbookError) return { kind: err.kind, message: err.message, issues: [] };
  return { kind: 'internal', message: err instanceof Error ? err.message : String(err), issues: [] };
}

export function deserializeError(e: SerializedError): RunbookError {
  return e.kind === 'validation' ? new ValidationError(e.message, e.issues) : new RunbookError(e.kind, e.message);
}

/**
 * Runs a batch synchronously, pair by pair; never throws (a failure ends the batch and becomes the
 * reply's error). `scratch`: the calling thread's reusable buffers (files are read into them,
 * images decoded into them).
 */
export function runCountBatch(batch: CountBatch, scratch?: PairScratch): CountReply {
  const counts = new Float64Array(batch.pairs.length * PACKED);
  for (let i = 0; i < batch.pairs.length; i++) {
    const job = batch.pairs[i];
    const labels = { prediction: labelOf(job.prediction, job.labels?.prediction), groundTruth: labelOf(job.groundTruth, job.labels?.groundTruth) };
    try {
      const prediction = readImage(job.prediction, labels.prediction, scratch?.prediction.file);
      const groundTruth = readImage(job.groundTruth, labels.groundTruth, scratch?.groundTruth.file);
      packCounts(countPngPair(prediction, groundTruth, labels, { maxPixels: batch.maxPixels }, scratch), counts, i * PACKED);
    } catch (err) {
      return { id: batch.id, counts: counts.subarray(0, i * PACKED), error: serializeError(err) };
    }
  }
  return { id: batch.id, counts };
}
