import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { PNG } from 'pngjs';
import { ValidationError } from '../../src/lib/errors';
import { decodePngRgb, decodePngRows, readPngHeader } from '../../src/lib/metrics/png';
import { CHANNELS, encodePng, expectedRgb, type EncodeSpec } from './helpers';

const DEPTHS: Record<number, EncodeSpec['bitDepth'][]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

const specArb: fc.Arbitrary<EncodeSpec> = fc
  .record({
    width: fc.integer({ min: 1, max: 19 }),
    height: fc.integer({ min: 1, max: 19 }),
    colorType: fc.constantFrom(0, 2, 3, 4, 6) as fc.Arbitrary<EncodeSpec['colorType']>,
    depthPick: fc.nat(),
    interlace: fc.boolean(),
    filters: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 7 }),
    seed: fc.array(fc.nat({ max: 65535 }), { minLength: 64, maxLength: 64 }),
    idatChunk: fc.constantFrom(undefined, 1, 7, 64),
  })
  .map((r) => {
    const depths = DEPTHS[r.colorType];
    const bitDepth = depths[r.depthPick % depths.length];
    const cn = CHANNELS[r.colorType];
    const paletteSize = r.colorType === 3 ? 1 + (r.seed[0] % (1 << bitDepth)) : 0;
    const max = r.colorType === 3 ? paletteSize - 1 : (1 << bitDepth) - 1;
    const samples: number[] = [];
    for (let i = 0; i < r.width * r.height * cn; i++) {
      const v = r.seed[(i * 7 + 3) % r.seed.length] ^ (i * 2654435761);
      // Many zeros, like masks, plus arbitrary values.
      samples.push(i % 3 === 0 ? 0 : Math.abs(v) % (max + 1));
    }
    const palette = r.colorType === 3
      ? Array.from({ length: paletteSize }, (_, k) => [r.seed[(k + 1) % 64] & 255, r.seed[(k + 2) % 64] & 255, r.seed[(k + 3) % 64] & 255] as [number, number, number])
      : undefined;
    return { width: r.width, height: r.height, colorType: r.colorType, bitDepth, samples, palette, interlace: r.interlace, filters: r.filters, idatChunk: r.idatChunk };
  });

describe('PNG decoding (OpenCV imread semantics, RGB order)', () => {
  it('decodes every colour type, bit depth, row filter and interlacing as OpenCV would', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const image = decodePngRgb(encodePng(spec), 'x.png');
        expect(image.width).toBe(spec.width);
        expect(image.height).toBe(spec.height);
        expect(Buffer.from(image.data).equals(Buffer.from(expectedRgb(spec)))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with pngjs on 8-bit RGB and RGBA images written by pngjs (an independent encoder and decoder)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.integer(), (w, h, alpha, seed) => {
        const png = new PNG({ width: w, height: h });
        for (let i = 0; i < w * h * 4; i++) png.data[i] = i % 4 === 3 ? (alpha ? (seed + i) & 255 : 255) : ((seed * (i + 1)) >>> 5) % 7 === 0 ? 0 : (seed ^ (i * 40503)) & 255;
        const bytes = PNG.sync.write(png, { colorType: alpha ? 6 : 2 });
        const ours = decodePngRgb(bytes, 'x.png').data;
        const theirs = PNG.sync.read(bytes).data;
        for (let p = 0; p < w * h; p++) {
          for (let c = 0; c < 3; c++) if (ours[p * 3 + c] !== theirs[p * 4 + c]) return false;
        }
        return true;
      }),
      { numRuns: 100 },
    );
  });

  it('keeps the high byte of 16-bit samples (libpng strip-16), not a rounded rescale', () => {
    const spec: EncodeSpec = { width: 4, height: 1, colorType: 2, bitDepth: 16, samples: [0x00ff, 0x0080, 0x0100, 0xffff, 0x7fff, 0x8000, 0x0001, 0x01ff, 0xfe80, 0, 0, 0] };
    const { data } = decodePngRgb(encodePng(spec), 'x.png');
    // 0x00ff would round to 1 with a rescale (pngjs); OpenCV keeps 0, so the pixel is background.
    expect(Array.from(data)).toEqual([0, 0, 1, 255, 127, 128, 0, 1, 254, 0, 0, 0]);
  });

  it('ignores tRNS: a "transparent" colour keeps its RGB value (pngjs would zero it)', () => {
    const spec: EncodeSpec = { width: 2, height: 1, colorType: 2, bitDepth: 8, samples: [255, 0, 0, 0, 0, 255], trns: Uint8Array.from([0, 255, 0, 0, 0, 0]) };
    const bytes = encodePng(spec);
    expect(Array.from(decodePngRgb(bytes, 'x.png').data)).toEqual([255, 0, 0, 0, 0, 255]);
    expect(Array.from(PNG.sync.read(bytes).data.subarray(0, 4))).toEqual([0, 0, 0, 0]);
  });

  it('drops alpha without compositing (RGBA and gray+alpha)', () => {
    const rgba = decodePngRgb(encodePng({ width: 1, height: 1, colorType: 6, bitDepth: 8, samples: [200, 10, 20, 0] }), 'x.png');
    expect(Array.from(rgba.data)).toEqual([200, 10, 20]);
    const ga = decodePngRgb(encodePng({ width: 1, height: 1, colorType: 4, bitDepth: 16, samples: [0x1234, 0] }), 'x.png');
    expect(Array.from(ga.data)).toEqual([0x12, 0x12, 0x12]);
  });

  it('in red/blue-only mode gives the same red and blue as a full decode', () => {
    fc.assert(
      fc.property(specArb.filter((s) => s.colorType === 2 || s.colorType === 6), (spec) => {
        const bytes = encodePng(spec);
        const full = decodePngRgb(bytes, 'x.png').data;
        const rb = decodePngRgb(bytes, 'x.png', { redBlueOnly: true }).data;
        for (let i = 0; i < full.length; i += 3) if (full[i] !== rb[i] || full[i + 2] !== rb[i + 2]) return false;
        return true;
      }),
      { numRuns: 200 },
    );
  });

  it('hands rows to a sink in order and reads the header alone', () => {
    const spec: EncodeSpec = { width: 3, height: 4, colorType: 0, bitDepth: 8, samples: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] };
    const bytes = encodePng(spec);
    expect(readPngHeader(bytes, 'x.png')).toEqual({ width: 3, height: 4, bitDepth: 8, colorType: 0, interlaced: false });
    const seen: number[] = [];
    decodePngRows(bytes, 'x.png', (y, buf, offset) => seen.push(y, buf[offset + 3]));
    expect(seen).toEqual([0, 2, 1, 5, 2, 8, 3, 11]);
  });
});

describe('PNG decoding errors name the file and the problem', () => {
  const good = encodePng({ width: 8, height: 8, colorType: 2, bitDepth: 8, samples: Array.from({ length: 192 }, (_, i) => (i * 37) & 255) });

  const expectError = (bytes: Uint8Array, pattern: RegExp): void => {
    let error: unknown;
    try {
      decodePngRgb(bytes, 'dir/img_SegRefined.png');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/^dir\/img_SegRefined\.png: /);
    expect((error as Error).message).toMatch(pattern);
    expect((error as ValidationError).issues[0].path).toBe('dir/img_SegRefined.png');
  };

  it('rejects what is not a PNG', () => {
    expectError(Buffer.from('GIF89a not a png at all'), /not a PNG file/);
    expectError(new Uint8Array(0), /not a PNG file/);
  });

  it('rejects a file cut short at any point', () => {
    for (const cut of [9, 20, 33, 40, good.length - 20, good.length - 13, good.length - 1]) {
      expectError(good.subarray(0, cut), /corrupt PNG|not a PNG/);
    }
  });

  it('rejects image data far longer than the header declares', () => {
    // A 512×512 image's data under a header that says 4×4: more than the header plus slack inflates.
    const big = encodePng({ width: 512, height: 512, colorType: 0, bitDepth: 8, samples: new Array<number>(512 * 512).fill(0) });
    const lying = Buffer.from(big);
    lying.writeUInt32BE(4, 16);
    lying.writeUInt32BE(4, 20);
    lying.writeUInt32BE(crc32(lying.subarray(12, 29)) >>> 0, 29);
    expectError(lying, /more image data than the header declares/);
  });

  it('rejects a CRC mismatch in a critical chunk', () => {
    const bad = Buffer.from(good);
    bad[8 + 8 + 13 + 4 + 8 + 2] ^= 0xff; // a byte inside the IDAT data
    expectError(bad, /CRC mismatch in IDAT/);
    const badHeader = Buffer.from(good);
    badHeader[17] ^= 1;
    expectError(badHeader, /CRC mismatch in IHDR/);
  });

  it('rejects an invalid filter type', () => {
    expectError(encodePng({ width: 2, height: 2, colorType: 0, bitDepth: 8, samples: [1, 2, 3, 4], filters: [0, 9] }), /invalid filter type 9 on row 1/);
  });

  it('rejects a palette index outside the palette and a palette image without PLTE', () => {
    expectError(encodePng({ width: 2, height: 1, colorType: 3, bitDepth: 8, samples: [0, 5], palette: [[1, 2, 3], [4, 5, 6]] }), /palette index 5 outside a 2-entry palette/);
    expectError(encodePng({ width: 2, height: 1, colorType: 3, bitDepth: 8, samples: [0, 1] }), /without PLTE/);
  });

  /** Rewrites IHDR fields (with a fresh CRC) of an encoded PNG. */
  const patchIhdr = (bytes: Buffer, patch: (ihdr: Buffer) => void): Buffer => {
    const out = Buffer.from(bytes);
    patch(out.subarray(16, 29));
    out.writeUInt32BE(crc32(out.subarray(12, 29)) >>> 0, 29);
    return out;
  };

  it('rejects a decompressed stream shorter than the header promises', () => {
    const fourRows = encodePng({ width: 4, height: 4, colorType: 0, bitDepth: 8, samples: new Array(16).fill(7) as number[] });
    expectError(patchIhdr(fourRows, (h) => h.writeUInt32BE(5, 4)), /image data truncated/);
  });

  it('rejects invalid headers: zero size, bad depth for the colour type', () => {
    expectError(patchIhdr(good, (h) => h.writeUInt32BE(0, 0)), /invalid PNG size 0×8/);
    expectError(patchIhdr(good, (h) => (h[8] = 4)), /invalid bit depth 4 for PNG colour type 2/);
    expectError(patchIhdr(good, (h) => (h[9] = 5)), /invalid PNG colour type 5/);
  });

  it('rejects a missing IEND and unknown critical chunks', () => {
    expectError(good.subarray(0, good.length - 12), /no IEND chunk/);
    const withUnknown = Buffer.concat([good.subarray(0, 33), Buffer.from([0, 0, 0, 0, 0x43, 0x67, 0x42, 0x49]), Buffer.alloc(4), good.subarray(33)]);
    const crc = crc32(withUnknown.subarray(37, 41)) >>> 0;
    withUnknown.writeUInt32BE(crc, 41);
    expectError(withUnknown, /unsupported critical PNG chunk "CgBI"/);
  });

  it('rejects images over the pixel limit before decoding them', () => {
    expect(() => decodePngRgb(good, 'big.png', { maxPixels: 63 })).toThrow(/big\.png: image of 8×8 pixels exceeds the limit of 63 pixels/);
  });
});
