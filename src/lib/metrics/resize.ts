/**
 * `cv2.resize(img, (w, h))` for 8-bit images: OpenCV 4.x's default INTER_LINEAR, reproduced
 * bit for bit (an own implementation of the same arithmetic; checked against OpenCV 4.6).
 *
 * What OpenCV does for CV_8U (modules/imgproc/src/resize.cpp):
 * - same size: a plain copy;
 * - exactly half size on both axes: INTER_LINEAR is replaced by the fast "area" path, the mean of
 *   each 2×2 block rounded half up, `(a + b + c + d + 2) >> 2`;
 * - otherwise two passes in fixed point with coefficients scaled by 2048 (INTER_RESIZE_COEF_BITS = 11):
 *   - source coordinate of destination pixel d: `f = (float)((d + 0.5) * scale - 0.5)`, with
 *     `scale = 1 / (dst / src)` in double, then `s = floor(f)`, `f -= s` in float;
 *   - coefficients `saturate_cast<short>((1 - f) * 2048)` and `saturate_cast<short>(f * 2048)`
 *     (round half to even, as cvRound);
 *   - horizontal: left of the image (s < 0) uses s = 0, f = 0; right (s ≥ w − 1) uses s = w − 1
 *     with weight 2048 only; the sum stays in int32 (pixel × 2048);
 *   - vertical: f is not clamped, the two rows are clamped to [0, h − 1]; the vectorised kernel
 *     (which covers every output byte of a 512-pixel RGB row) computes
 *     `((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16) + 2) >> 2` in 16-bit arithmetic, and
 *     OpenCV's scalar tail for this type uses the same formula (not the generic
 *     `(S0 * b0 + S1 * b1 + 2^21) >> 22`, which rounds differently).
 */

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** cvRound for a float argument: round half to even (SSE2 conversion in the default rounding mode). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function saturateShort(v: number): number {
  const r = roundHalfEven(v);
  return r < -32768 ? -32768 : r > 32767 ? 32767 : r;
}

function sat16(v: number): number {
  return v < -32768 ? -32768 : v > 32767 ? 32767 : v;
}

function satU8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

interface Axis {
  /** Source index per destination index (after clamping for the horizontal axis). */
  ofs: Int32Array;
  c0: Int32Array;
  c1: Int32Array;
  /** First destination index whose right neighbour is outside the source (horizontal only). */
  max: number;
}

function axisCoefficients(src: number, dst: number, clampFraction: boolean): Axis {
  const scale = 1 / (dst / src);
  const ofs = new Int32Array(dst);
  const c0 = new Int32Array(dst);
  const c1 = new Int32Array(dst);
  let max = dst;
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampFraction) {
      if (s < 0) {
        f = 0;
        s = 0;
      }
      if (s + 1 >= src) {
        max = Math.min(max, d);
        if (s >= src - 1) {
          f = 0;
          s = src - 1;
        }
      }
    }
    ofs[d] = s;
    // (1.f - f) and the products are float operations in OpenCV; ×2048 is exact in float.
    c0[d] = saturateShort(Math.fround(1 - f) * COEF_SCALE);
    c1[d] = saturateShort(f * COEF_SCALE);
  }
  return { ofs, c0, c1, max };
}

function resizeHalf(src: Uint8Array, sw: number, cn: number, dw: number, dh: number): Uint8Array {
  const out = new Uint8Array(dw * dh * cn);
  const rowBytes = sw * cn;
  for (let y = 0; y < dh; y++) {
    const r0 = 2 * y * rowBytes;
    const r1 = r0 + rowBytes;
    let o = y * dw * cn;
    for (let x = 0; x < dw; x++) {
      const i = 2 * x * cn;
      for (let c = 0; c < cn; c++, o++) {
        out[o] = (src[r0 + i + c] + src[r0 + i + cn + c] + src[r1 + i + c] + src[r1 + i + cn + c] + 2) >> 2;
      }
    }
  }
  return out;
}

/**
 * Resizes an interleaved 8-bit image of `cn` channels from sw×sh to dw×dh exactly as
 * `cv2.resize(src, (dw, dh))` (INTER_LINEAR) does on x86. Returns a new buffer.
 */
export function resizeLinear8u(src: Uint8Array, sw: number, sh: number, cn: number, dw: number, dh: number): Uint8Array {
  if (!(sw > 0 && sh > 0 && dw > 0 && dh > 0 && cn > 0) || src.length < sw * sh * cn) {
    throw new RangeError(`resizeLinear8u: bad sizes ${sw}×${sh}×${cn} → ${dw}×${dh} for ${src.length} bytes`);
  }
  if (sw === dw && sh === dh) return src.slice(0, sw * sh * cn);
  const scaleX = 1 / (dw / sw);
  const scaleY = 1 / (dh / sh);
  if (scaleX === 2 && scaleY === 2) return resizeHalf(src, sw, cn, dw, dh);

  const xa = axisCoefficients(sw, dw, true);
  const ya = axisCoefficients(sh, dh, false);
  const width = dw * cn;

  // Horizontal pass, one source row at a time, cached for the two rows the vertical pass needs.
  const hrow = (sy: number, out: Int32Array): void => {
    const base = sy * sw * cn;
    for (let dx = 0; dx < dw; dx++) {
      const sx = base + xa.ofs[dx] * cn;
      const o = dx * cn;
      if (dx < xa.max) {
        const a0 = xa.c0[dx];
        const a1 = xa.c1[dx];
        for (let c = 0; c < cn; c++) out[o + c] = src[sx + c] * a0 + src[sx + cn + c] * a1;
      } else {
        for (let c = 0; c < cn; c++) out[o + c] = src[sx + c] * COEF_SCALE;
      }
    }
  };
  // Two cached horizontally-resized rows: the vertical pass needs rows y0 and y0 + 1 (clamped).
  const bufs = [new Int32Array(width), new Int32Array(width)];
  const rows = [-1, -1];
  const rowBuffer = (sy: number, keep: number): Int32Array => {
    if (rows[0] === sy) return bufs[0];
    if (rows[1] === sy) return bufs[1];
    const slot = rows[0] === keep ? 1 : 0;
    hrow(sy, bufs[slot]);
    rows[slot] = sy;
    return bufs[slot];
  };

  const out = new Uint8Array(width * dh);
  for (let dy = 0; dy < dh; dy++) {
    const sy = ya.ofs[dy];
    const y0 = sy < 0 ? 0 : sy >= sh ? sh - 1 : sy;
    const y1 = sy + 1 < 0 ? 0 : sy + 1 >= sh ? sh - 1 : sy + 1;
    const s0 = rowBuffer(y0, y1);
    const s1 = rowBuffer(y1, y0);
    const b0 = ya.c0[dy];
    const b1 = ya.c1[dy];
    const o = dy * width;
    for (let x = 0; x < width; x++) {
      const m0 = (sat16(s0[x] >> 4) * b0) >> 16;
      const m1 = (sat16(s1[x] >> 4) * b1) >> 16;
      out[o + x] = satU8(sat16(sat16(m0 + m1) + 2) >> 2);
    }
  }
  return out;
}
