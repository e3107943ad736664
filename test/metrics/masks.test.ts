import { describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { classMaskFromPng, countMasks, countPngPair } from '../../src/lib/metrics/masks';

jest.setTimeout(180_000);

/** A 512×512 RGB PNG (pngjs) with sparse random red/blue/green pixels and some runs. */
function randomMask(seed: number, density: number): Buffer {
  const png = new PNG({ width: 512, height: 512, colorType: 2, inputHasAlpha: false });
  const data = Buffer.alloc(512 * 512 * 3);
  let s = seed >>> 0;
  const next = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  for (let i = 0; i < 512 * 512; i++) {
    if (next() < density) {
      const run = 1 + Math.floor(next() * 9);
      const c = Math.floor(next() * 3);
      const v = 1 + Math.floor(next() * 255);
      for (let k = 0; k < run && i + k < 512 * 512; k++) data[(i + k) * 3 + c] = v;
    }
    // Green everywhere at random: it must never count.
    if (next() < 0.3) data[i * 3 + 1] = 255;
  }
  png.data = data;
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

describe('counting a 512×512 pair', () => {
  it('row-by-row counting (with its 4-pixel background skip) equals counting two whole masks', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), fc.constantFrom(0, 0.001, 0.02, 0.2), fc.constantFrom(0, 0.005, 0.1), (a, b, d1, d2) => {
        const pred = randomMask(a, d1);
        const gt = randomMask(b, d2);
        const fast = countPngPair(pred, gt, { prediction: 'p.png', groundTruth: 'g.png' });
        const slow = countMasks(classMaskFromPng(pred, 'p.png').codes, classMaskFromPng(gt, 'g.png').codes);
        expect({ positive: fast.positive, negative: fast.negative }).toEqual(slow);
        const total = (c: { tp: number; fp: number; fn: number; tn: number }): number => c.tp + c.fp + c.fn + c.tn;
        expect(total(fast.positive)).toBe(512 * 512);
        expect(total(fast.negative)).toBe(512 * 512);
      }),
      { numRuns: 6 },
    );
  });

  it('ignores green and treats any red or blue value above 0 as foreground', () => {
    const png = new PNG({ width: 512, height: 512, colorType: 2, inputHasAlpha: false });
    const data = Buffer.alloc(512 * 512 * 3);
    data.set([1, 255, 0], 0); // red 1: positive
    data.set([0, 255, 1], 3 * 7); // blue 1: negative
    data.set([0, 200, 0], 3 * 600); // green only: background
    png.data = data;
    const pred = PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
    const empty = PNG.sync.write(Object.assign(new PNG({ width: 512, height: 512, colorType: 2, inputHasAlpha: false }), { data: Buffer.alloc(512 * 512 * 3) }), {
      colorType: 2,
      inputColorType: 2,
      inputHasAlpha: false,
    });
    const c = countPngPair(pred, empty, { prediction: 'p', groundTruth: 'g' });
    expect(c.positive).toEqual({ tp: 0, fp: 1, fn: 0, tn: 512 * 512 - 1 });
    expect(c.negative).toEqual({ tp: 0, fp: 1, fn: 0, tn: 512 * 512 - 1 });
  });
});
