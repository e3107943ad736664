/**
 * DeepLIIF's masks and pixel counts: each image is decoded as RGB, resized to 512×512 when it is
 * not already that size (OpenCV bilinear, before binarisation), then positive = red > 0 and
 * negative = blue > 0. A pair of images gives TP/FP/FN/TN per class over all 512×512 pixels.
 */
import { ValidationError } from '../errors';
import { decodePngRgb, decodePngRows, readPngHeader, type DecodeOptions } from './png';
import { resizeLinear8u } from './resize';

/** DeepLIIF compares masks at 512×512. */
export const MASK_SIZE = 512;

/** Bit of a pixel code set when the pixel belongs to the positive class (red channel > 0). */
export const POSITIVE_BIT = 1;
/** Bit of a pixel code set when the pixel belongs to the negative class (blue channel > 0). */
export const NEGATIVE_BIT = 2;

export interface ConfusionCounts {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly tn: number;
}

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
    codes[start + i] = (rgb[o] !== 0 ? POSITIVE_BIT : 0) | (rgb[o + 2] !== 0 ? NEGATIVE_BIT : 0);
  }
}

/** Decodes a mask PNG into class codes, resizing to 512×512 first if needed. `label` names the file in errors. */
export function classMaskFromPng(bytes: Uint8Array, label: string, options: DecodeOptions = {}): ClassMask {
  const header = readPngHeader(bytes, label);
  const codes = new Uint8Array(MASK_SIZE * MASK_SIZE);
  if (header.width === MASK_SIZE && header.height === MASK_SIZE) {
    decodePngRows(bytes, label, (y, buf, offset) => codesOfRgb(buf, offset, codes, y * MASK_SIZE, MASK_SIZE), options);
  } else {
    const image = decodePngRgb(bytes, label, options);
    const resized = resizeLinear8u(image.data, image.width, image.height, 3, MASK_SIZE, MASK_SIZE);
    codesOfRgb(resized, 0, codes, 0, MASK_SIZE * MASK_SIZE);
  }
  return { codes, sourceWidth: header.width, sourceHeight: header.height };
}

/** TP/FP/FN/TN of both classes for a prediction mask against a ground-truth mask. */
export function countMasks(prediction: Uint8Array, groundTruth: Uint8Array): PairCounts {
  if (prediction.length !== groundTruth.length) {
    throw new ValidationError(`masks differ in size: ${prediction.length} and ${groundTruth.length} pixels`);
  }
  // One histogram of (prediction code, ground-truth code) combinations: 16 bins.
  const hist = new Float64Array(16);
  for (let i = 0; i < prediction.length; i++) hist[(prediction[i] << 2) | groundTruth[i]]++;
  const count = (bit: number): ConfusionCounts => {
    let tp = 0, fp = 0, fn = 0, tn = 0;
    for (let combo = 0; combo < 16; combo++) {
      const n = hist[combo];
      if (n === 0) continue;
      const p = ((combo >> 2) & bit) !== 0;
      const g = (combo & bit) !== 0;
      if (p && g) tp += n;
      else if (p) fp += n;
      else if (g) fn += n;
      else tn += n;
    }
    return { tp, fp, fn, tn };
  };
  return { positive: count(POSITIVE_BIT), negative: count(NEGATIVE_BIT) };
}

export interface PngPairCounts extends PairCounts {
  readonly predictionSize: readonly [number, number];
  readonly groundTruthSize: readonly [number, number];
}

/** Decodes a prediction and a ground-truth PNG and counts them (the per-pair work of a run). */
export function countPngPair(
  prediction: Uint8Array,
  groundTruth: Uint8Array,
  labels: { prediction: string; groundTruth: string },
  options: DecodeOptions = {},
): PngPairCounts {
  const gt = classMaskFromPng(groundTruth, labels.groundTruth, options);
  const pred = classMaskFromPng(prediction, labels.prediction, options);
  return {
    ...countMasks(pred.codes, gt.codes),
    predictionSize: [pred.sourceWidth, pred.sourceHeight],
    groundTruthSize: [gt.sourceWidth, gt.sourceHeight],
  };
}
