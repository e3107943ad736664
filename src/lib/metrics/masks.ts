/**
 * DeepLIIF's masks and pixel counts: each image is decoded as RGB, resized to 512×512 when it is
 * not already that size (OpenCV bilinear, before binarisation), then positive = red > 0 and
 * negative = blue > 0. A pair of images gives TP/FP/FN/TN per class over all 512×512 pixels.
 */
import { ValidationError } from '../errors';
import { PngRowReader, decodePngRgb, decodePngRows, readPngHeader, type DecodeOptions } from './png';
import { resizeLinear8u } from './resize';
import type { PairScratch } from './scratch';

// Module-local constants for the hot loops: exported ones compile to `exports.X` property loads.
const SIZE = 512;
const POS = 1;
const NEG = 2;

/** DeepLIIF compares masks at 512×512. */
export const MASK_SIZE = SIZE;
/** Bit of a pixel code set when the pixel belongs to the positive class (red channel > 0). */
export const POSITIVE_BIT = POS;
/** Bit of a pixel code set when the pixel belongs to the negative class (blue channel > 0). */
export const NEGATIVE_BIT = NEG;

/** Pixel counts of one class in one image: true/false positives, false/true negatives. */
export interface ConfusionCounts {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly tn: number;
}

/** The confusion counts of one prediction/ground-truth pair, for each of the two classes. */
export interface PairCounts {
  readonly positive: ConfusionCounts;
  readonly negative: ConfusionCounts;
}

/** A mask image: one code per pixel of the 512×512 grid (POSITIVE_BIT | NEGATIVE_BIT). */
export interface ClassMask {
  readonly codes: Uint8Array;
  /** Size of the image as stored, before any resize. */
  readonly sourceWidth: number;
  readonly sourceHeight: number;
}

function codesOfRgb(rgb: Uint8Array, offset: number, codes: Uint8Array, start: number, count: number): void {
  for (let i = 0, o = offset; i < count; i++, o += 3) {
    // (v + 255) >> 8 is 1 for v in 1..255 and 0 for 0: branch-free "v > 0" (measurably faster here).
    codes[start + i] = ((rgb[o] + 255) >> 8) | (((rgb[o + 2] + 255) >> 8) << 1);
  }
}

/** Decodes a mask PNG into class codes, resizing to 512×512 first if needed. `label` names the file in errors. */
export function classMaskFromPng(bytes: Uint8Array, label: string, options: DecodeOptions = {}): ClassMask {
  const header = readPngHeader(bytes, label);
  const codes = new Uint8Array(SIZE * SIZE);
  const decode = { ...options, redBlueOnly: true }; // green never matters, not even to the resize
  if (header.width === SIZE && header.height === SIZE) {
    decodePngRows(bytes, label, (y, buf, offset) => codesOfRgb(buf, offset, codes, y * SIZE, SIZE), decode);
  } else {
    const image = decodePngRgb(bytes, label, decode);
    const resized = resizeLinear8u(image.data, image.width, image.height, 3, SIZE, SIZE);
    codesOfRgb(resized, 0, codes, 0, SIZE * SIZE);
  }
  return { codes, sourceWidth: header.width, sourceHeight: header.height };
}

/** Derives both classes' TP/FP/FN/TN from a histogram of (prediction code << 2 | ground-truth code). */
function countsFromHistogram(hist: Uint32Array): PairCounts {
  const count = (bit: number): ConfusionCounts => {
    let tp = 0, fp = 0, fn = 0, tn = 0;
    for (let combo = 0; combo < 16; combo++) {
      const n = hist[combo];
      const p = ((combo >> 2) & bit) !== 0;
      const g = (combo & bit) !== 0;
      if (p && g) tp += n;
      else if (p) fp += n;
      else if (g) fn += n;
      else tn += n;
    }
    return { tp, fp, fn, tn };
  };
  return { positive: count(POS), negative: count(NEG) };
}

/** TP/FP/FN/TN of both classes for a prediction mask against a ground-truth mask. */
export function countMasks(prediction: Uint8Array, groundTruth: Uint8Array): PairCounts {
  if (prediction.length !== groundTruth.length) {
    throw new ValidationError(`masks differ in size: ${prediction.length} and ${groundTruth.length} pixels`);
  }
  const hist = new Uint32Array(16);
  for (let i = 0; i < prediction.length; i++) hist[(prediction[i] << 2) | groundTruth[i]]++;
  return countsFromHistogram(hist);
}

export interface PngPairCounts extends PairCounts {
  readonly predictionSize: readonly [number, number];
  readonly groundTruthSize: readonly [number, number];
}

/**
 * Adds one row pair to the histogram. Four pixels (12 bytes) are tested at once with three 32-bit
 * reads masked to their red and blue bytes: masks are mostly background, and a group that is
 * background in both images is four true negatives of both classes (histogram bin 0).
 */
function countRow(hist: Uint32Array, p: DataView, po: number, g: DataView, go: number): number {
  let background = 0;
  let x = 0;
  for (; x + 4 <= SIZE; x += 4, po += 12, go += 12) {
    // Little-endian words: [R0 G0 B0 R1] [G1 B1 R2 G2] [B2 R3 G3 B3]; green is ignored.
    const pw = (p.getUint32(po, true) & 0xffff00ff) | (p.getUint32(po + 4, true) & 0x00ffff00) | (p.getUint32(po + 8, true) & 0xff00ffff);
    const gw = (g.getUint32(go, true) & 0xffff00ff) | (g.getUint32(go + 4, true) & 0x00ffff00) | (g.getUint32(go + 8, true) & 0xff00ffff);
    if ((pw | gw) === 0) {
      background += 4;
      continue;
    }
    for (let k = 0; k < 12; k += 3) hist[pixelBin(p, po + k, g, go + k)]++;
  }
  for (; x < SIZE; x++, po += 3, go += 3) hist[pixelBin(p, po, g, go)]++;
  return background;
}

/** Histogram bin of one pixel pair: prediction code << 2 | ground-truth code; (v + 255) >> 8 is "v > 0". */
function pixelBin(p: DataView, po: number, g: DataView, go: number): number {
  return (((p.getUint8(po) + 255) >> 8) << 2) | (((p.getUint8(po + 2) + 255) >> 8) << 3) | ((g.getUint8(go) + 255) >> 8) | (((g.getUint8(go + 2) + 255) >> 8) << 1);
}

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/**
 * Decodes a prediction and a ground-truth PNG and counts them (the per-pair work of a run).
 * `scratch`: buffers reused from pair to pair (a thread's own), so the common case allocates
 * nothing large.
 */
export function countPngPair(
  prediction: Uint8Array,
  groundTruth: Uint8Array,
  labels: { prediction: string; groundTruth: string },
  options: DecodeOptions = {},
  scratch?: PairScratch,
): PngPairCounts {
  const predHeader = readPngHeader(prediction, labels.prediction);
  const gtHeader = readPngHeader(groundTruth, labels.groundTruth);
  const isMaskSize = (h: { width: number; height: number }): boolean => h.width === SIZE && h.height === SIZE;
  if (!isMaskSize(predHeader) || !isMaskSize(gtHeader)) {
    const gt = classMaskFromPng(groundTruth, labels.groundTruth, { ...options, scratch: scratch?.groundTruth });
    const pred = classMaskFromPng(prediction, labels.prediction, { ...options, scratch: scratch?.prediction });
    return { ...countMasks(pred.codes, gt.codes), predictionSize: [pred.sourceWidth, pred.sourceHeight], groundTruthSize: [gt.sourceWidth, gt.sourceHeight] };
  }
  // The common case: both 512×512, read row by row in step; no mask is materialised.
  const g = new PngRowReader(groundTruth, labels.groundTruth, { ...options, redBlueOnly: true, scratch: scratch?.groundTruth });
  const p = new PngRowReader(prediction, labels.prediction, { ...options, redBlueOnly: true, scratch: scratch?.prediction });
  const gv = viewOf(g.buf);
  const pv = viewOf(p.buf);
  const hist = new Uint32Array(16);
  let background = 0;
  while (g.next() && p.next()) background += countRow(hist, pv, p.offset, gv, g.offset);
  hist[0] += background;
  return { ...countsFromHistogram(hist), predictionSize: [SIZE, SIZE], groundTruthSize: [SIZE, SIZE] };
}
