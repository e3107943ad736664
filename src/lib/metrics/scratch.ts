/**
 * Buffers a thread reuses from one image to the next, so counting a pair of 512×512 masks allocates
 * nothing large: the file bytes, the concatenated compressed data and the inflated image data of
 * each of the two images counted at a time. A worker keeps one PairScratch for its life (about
 * 1.8 MB); whatever is decoded into it is valid until the next decode with the same scratch.
 */

/** Buffers above this size are not kept between images (a rare huge image must not stay resident). */
export const MAX_KEPT_BYTES = 8 * 1024 * 1024;

/** One growable buffer; `get(n)` returns n bytes of unspecified content, reusing memory when it can. */
export class ReusableBuffer {
  private kept: Buffer | null = null;

  constructor(private readonly maxKeptBytes = MAX_KEPT_BYTES) {}

  /** A Buffer of exactly `size` bytes: a view of the kept buffer when it is large enough. */
  get(size: number): Buffer {
    if (this.kept && this.kept.length >= size) return this.kept.subarray(0, size);
    // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared pool.
    const fresh = Buffer.allocUnsafeSlow(size);
    if (size <= this.maxKeptBytes) this.kept = fresh;
    return fresh;
  }

  /** Bytes kept between calls. */
  get keptBytes(): number {
    return this.kept ? this.kept.length : 0;
  }
}

/** The buffers of one image being decoded. */
export interface ImageScratch {
  /** The PNG file's bytes, when read from a path. */
  readonly file: ReusableBuffer;
  /** IDAT chunks joined, when a file has several. */
  readonly compressed: ReusableBuffer;
  /** The inflated (filtered) image data. */
  readonly raw: ReusableBuffer;
}

/** The buffers of the two images of a pair, decoded in step. */
export interface PairScratch {
  readonly prediction: ImageScratch;
  readonly groundTruth: ImageScratch;
}

export function imageScratch(maxKeptBytes = MAX_KEPT_BYTES): ImageScratch {
  return { file: new ReusableBuffer(maxKeptBytes), compressed: new ReusableBuffer(maxKeptBytes), raw: new ReusableBuffer(maxKeptBytes) };
}

export function pairScratch(maxKeptBytes = MAX_KEPT_BYTES): PairScratch {
  return { prediction: imageScratch(maxKeptBytes), groundTruth: imageScratch(maxKeptBytes) };
}
