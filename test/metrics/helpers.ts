/**
 * Test helpers for the metrics tests: an independent minimal PNG encoder (every colour type, bit
 * depth, row filter and Adam7 interlacing, which pngjs cannot write), mask files written with pngjs
 * (a real third-party encoder), temp folders and a seeded random generator.
 */
import { mkdtempSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';

export function tempDir(prefix = 'metrics-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Deterministic pseudo-random integers (same LCG as test/metrics/fixtures/make-opencv-vectors.py). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
}

export interface EncodeSpec {
  width: number;
  height: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Samples per pixel, row-major: `channels` values per pixel at `bitDepth`. */
  samples: number[];
  palette?: [number, number, number][];
  /** Raw tRNS chunk content. */
  trns?: Uint8Array;
  interlace?: boolean;
  /** Filter type per encoded row (cycled); default: all five in turn. */
  filters?: number[];
  /** Split the compressed stream into IDAT chunks of at most this many bytes. */
  idatChunk?: number;
}

export const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

function packRow(samples: number[], depth: number): Uint8Array {
  if (depth === 16) {
    const out = new Uint8Array(samples.length * 2);
    samples.forEach((v, i) => {
      out[2 * i] = v >> 8;
      out[2 * i + 1] = v & 0xff;
    });
    return out;
  }
  if (depth === 8) return Uint8Array.from(samples);
  const out = new Uint8Array(Math.ceil((samples.length * depth) / 8));
  samples.forEach((v, i) => {
    const bit = i * depth;
    out[bit >> 3] |= v << (8 - depth - (bit & 7));
  });
  return out;
}

/** The PNG specification's Paeth predictor, written out as specified. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  if (pb <= pc) return b;
  return c;
}

function filterRow(type: number, row: Uint8Array, prior: Uint8Array | null, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length + 1);
  out[0] = type;
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp] : 0;
    const b = prior ? prior[i] : 0;
    const c = prior && i >= bpp ? prior[i - bpp] : 0;
    const pred = type === 0 ? 0 : type === 1 ? a : type === 2 ? b : type === 3 ? Math.floor((a + b) / 2) : paeth(a, b, c);
    out[i + 1] = (row[i] - pred) & 0xff;
  }
  return out;
}

const ADAM7 = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

/** Encodes a PNG from raw samples (see EncodeSpec). */
export function encodePng(spec: EncodeSpec): Buffer {
  const { width, height, colorType, bitDepth } = spec;
  const cn = CHANNELS[colorType];
  const bpp = Math.max(1, (cn * bitDepth) >> 3);
  const filters = spec.filters ?? [0, 1, 2, 3, 4];
  let rowIndex = 0;
  const parts: Uint8Array[] = [];
  const encodeImage = (w: number, h: number, sampleAt: (x: number, y: number, c: number) => number): void => {
    let prior: Uint8Array | null = null;
    for (let y = 0; y < h; y++) {
      const rowSamples: number[] = [];
      for (let x = 0; x < w; x++) for (let c = 0; c < cn; c++) rowSamples.push(sampleAt(x, y, c));
      const row = packRow(rowSamples, bitDepth);
      parts.push(filterRow(filters[rowIndex++ % filters.length], row, prior, bpp));
      prior = row;
    }
  };
  const at = (x: number, y: number, c: number): number => spec.samples[(y * width + x) * cn + c];
  if (spec.interlace) {
    for (const [x0, y0, dx, dy] of ADAM7) {
      const w = width > x0 ? Math.ceil((width - x0) / dx) : 0;
      const h = height > y0 ? Math.ceil((height - y0) / dy) : 0;
      if (w > 0 && h > 0) encodeImage(w, h, (x, y, c) => at(x0 + x * dx, y0 + y * dy, c));
    }
  } else {
    encodeImage(width, height, at);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  ihdr[12] = spec.interlace ? 1 : 0;
  const compressed = deflateSync(Buffer.concat(parts));
  const idats: Buffer[] = [];
  const size = spec.idatChunk ?? compressed.length;
  for (let i = 0; i < compressed.length; i += size) idats.push(chunk('IDAT', compressed.subarray(i, i + size)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(spec.palette ? [chunk('PLTE', Uint8Array.from(spec.palette.flat()))] : []),
    ...(spec.trns ? [chunk('tRNS', spec.trns)] : []),
    ...idats,
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * The RGB that OpenCV's imread(IMREAD_COLOR) gives for a pixel, written from its documented
 * behaviour (strip 16 → high byte, gray → R=G=B with 1/2/4-bit expanded to 0–255, palette lookup,
 * alpha dropped), for comparing with the decoder.
 */
export function expectedRgb(spec: EncodeSpec): Uint8Array {
  const cn = CHANNELS[spec.colorType];
  const out = new Uint8Array(spec.width * spec.height * 3);
  const to8 = (v: number): number => (spec.bitDepth === 16 ? v >> 8 : spec.bitDepth < 8 ? Math.round((v * 255) / ((1 << spec.bitDepth) - 1)) : v);
  for (let i = 0; i < spec.width * spec.height; i++) {
    const s = spec.samples.slice(i * cn, i * cn + cn);
    let rgb: number[];
    if (spec.colorType === 3) rgb = (spec.palette as [number, number, number][])[s[0]];
    else if (spec.colorType === 0 || spec.colorType === 4) rgb = [to8(s[0]), to8(s[0]), to8(s[0])];
    else rgb = [to8(s[0]), to8(s[1]), to8(s[2])];
    out.set(rgb, i * 3);
  }
  return out;
}

/** Writes an RGB PNG with pngjs; `pixel(x, y)` gives [r, g, b], or pass the RGB bytes. */
export function writeRgbPng(path: string, width: number, height: number, pixel: ((x: number, y: number) => readonly [number, number, number]) | Uint8Array): void {
  const png = new PNG({ width, height, colorType: 2, inputHasAlpha: false });
  const data = Buffer.alloc(width * height * 3);
  if (pixel instanceof Uint8Array) data.set(pixel);
  else {
    for (let y = 0, o = 0; y < height; y++) {
      for (let x = 0; x < width; x++, o += 3) {
        const [r, g, b] = pixel(x, y);
        data[o] = r;
        data[o + 1] = g;
        data[o + 2] = b;
      }
    }
  }
  png.data = data;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
}

/** Sets a file's modification time (and access time). */
export function setMtime(path: string, when: Date): void {
  utimesSync(path, when, when);
}

/**
 * A 512×512 mask whose red and blue channels come from small patterns scaled up by whole blocks:
 * `red[row][col]` truthy paints red in that block (same for blue). Ratios of pixel counts equal
 * those of the small patterns, so DeepLIIF's metrics equal the small patterns' metrics.
 */
export function blockMask(red: readonly (readonly number[])[] | null, blue: readonly (readonly number[])[] | null): (x: number, y: number) => [number, number, number] {
  const at = (p: readonly (readonly number[])[] | null, x: number, y: number): boolean => {
    if (!p) return false;
    const rows = p.length;
    const cols = p[0].length;
    return p[Math.floor((y * rows) / 512)][Math.floor((x * cols) / 512)] !== 0;
  };
  return (x, y) => [at(red, x, y) ? 255 : 0, 0, at(blue, x, y) ? 255 : 0];
}
