/**
 * PNG decoding to 8-bit RGB with the semantics of OpenCV's `cv2.imread(path, IMREAD_COLOR)` (the call
 * DeepLIIF's statistics make), in R, G, B order:
 * - RGBA / gray+alpha: the alpha channel is dropped, never composited; a `tRNS` chunk is ignored
 *   (libpng's strip-alpha), so a "transparent" colour keeps its RGB value;
 * - palette: indices are looked up in PLTE (an index past the palette is an error);
 * - grayscale: R = G = B = gray; 1/2/4-bit gray is expanded to 0–255 (×255, ×85, ×17);
 * - 16-bit samples keep their high byte (libpng's strip-16, i.e. `>> 8`), not a rounded rescale;
 * - Adam7 interlacing is supported; ancillary chunks (gamma, colour profiles, eXIf) are ignored.
 *
 * Written here rather than taken from pngjs because pngjs differs on two of those points (it
 * rounds 16-bit samples and zeroes the RGB of `tRNS` pixels) and is ~4× slower on masks; the
 * inflate itself is Node's zlib (into reusable buffers, inflate.ts). Errors are ValidationErrors
 * naming the file and the problem.
 */
import { crc32 } from 'node:zlib';
import { ValidationError } from '../errors';
import { inflateInto } from './inflate';
import type { ImageScratch } from './scratch';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Colour types of the PNG specification. */
export const PngColorType = { gray: 0, rgb: 2, palette: 3, grayAlpha: 4, rgba: 6 } as const;

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ALLOWED_DEPTHS: Record<number, readonly number[]> = {
  0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16],
};

/** The fields of a PNG file's IHDR chunk that decoding needs. */
export interface PngHeader {
  readonly width: number;
  readonly height: number;
  readonly bitDepth: number;
  readonly colorType: number;
  readonly interlaced: boolean;
}

/** A decoded image: 8-bit RGB, row-major, 3 bytes per pixel. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** width × height × 3 bytes, row-major, R G B. */
  readonly data: Uint8Array;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (bounded memory). Default 4096 × 4096. */
  readonly maxPixels?: number;
  /** Only red and blue are needed: the green values handed out are then unspecified (faster). */
  readonly redBlueOnly?: boolean;
  /**
   * Buffers to reuse for the compressed and inflated data (see scratch.ts): nothing large is then
   * allocated, and rows handed out are views into `scratch.raw`, valid until its next use.
   */
  readonly scratch?: ImageScratch;
}

/** Largest image (width × height) decoded unless a caller allows more: guards memory against hostile headers. */
export const DEFAULT_MAX_PIXELS = 4096 * 4096;

/**
 * Called once per image row, top to bottom. Pixel x of the row is at
 * `buf[offset + 3x]` (R), `+1` (G), `+2` (B). The buffer is reused: copy what you keep.
 */
export type RgbRowSink = (y: number, buf: Uint8Array, offset: number) => void;

function fail(label: string, problem: string): never {
  throw new ValidationError(`${label}: ${problem}`, [{ path: label, message: problem }]);
}

interface Parsed {
  header: PngHeader;
  palette: Uint8Array | null;
  idat: Uint8Array[];
}

function chunkType(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/** Reads and checks the signature and IHDR only (cheap: for sizes before a full decode). */
export function readPngHeader(bytes: Uint8Array, label: string): PngHeader {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) fail(label, 'not a PNG file (bad signature)');
  if (bytes.length < 8 + 8 + 13 + 4 || chunkType(bytes, 12) !== 'IHDR' || u32(bytes, 8) !== 13) {
    fail(label, 'corrupt PNG: the first chunk is not a 13-byte IHDR');
  }
  if ((crc32(bytes.subarray(12, 12 + 4 + 13)) >>> 0) !== u32(bytes, 12 + 4 + 13)) fail(label, 'corrupt PNG: CRC mismatch in IHDR');
  const width = u32(bytes, 16);
  const height = u32(bytes, 20);
  const bitDepth = bytes[24];
  const colorType = bytes[25];
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) fail(label, `invalid PNG size ${width}×${height}`);
  const depths = ALLOWED_DEPTHS[colorType];
  if (!depths) fail(label, `invalid PNG colour type ${colorType}`);
  if (!depths.includes(bitDepth)) fail(label, `invalid bit depth ${bitDepth} for PNG colour type ${colorType}`);
  if (bytes[26] !== 0 || bytes[27] !== 0) fail(label, 'unsupported PNG compression or filter method');
  if (bytes[28] > 1) fail(label, `invalid PNG interlace method ${bytes[28]}`);
  return { width, height, bitDepth, colorType, interlaced: bytes[28] === 1 };
}

function parseChunks(bytes: Uint8Array, label: string): Parsed {
  const header = readPngHeader(bytes, label);
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let at = 8 + 8 + 13 + 4;
  let sawIend = false;
  let idatDone = false;
  while (at < bytes.length) {
    if (at + 12 > bytes.length) fail(label, 'corrupt PNG: truncated chunk header (file cut short?)');
    const length = u32(bytes, at);
    const type = chunkType(bytes, at + 4);
    const end = at + 8 + length;
    if (length > 0x7fffffff || end + 4 > bytes.length) fail(label, `corrupt PNG: chunk ${JSON.stringify(type)} runs past the end of the file (file cut short?)`);
    const critical = (bytes[at + 4] & 0x20) === 0;
    if (critical && (crc32(bytes.subarray(at + 4, end)) >>> 0) !== u32(bytes, end)) fail(label, `corrupt PNG: CRC mismatch in ${type} chunk`);
    if (type === 'IDAT') {
      if (idatDone) fail(label, 'corrupt PNG: IDAT chunks are not consecutive');
      idat.push(bytes.subarray(at + 8, end));
    } else {
      if (idat.length > 0) idatDone = true;
      if (type === 'PLTE') {
        if (length === 0 || length % 3 !== 0 || length > 768) fail(label, `corrupt PNG: PLTE length ${length}`);
        palette = bytes.subarray(at + 8, end);
      } else if (type === 'IEND') {
        sawIend = true;
        break;
      } else if (type === 'IHDR') {
        fail(label, 'corrupt PNG: second IHDR chunk');
      } else if (critical) {
        fail(label, `unsupported critical PNG chunk ${JSON.stringify(type)}`);
      }
    }
    at = end + 4;
  }
  if (idat.length === 0) fail(label, 'corrupt PNG: no image data (IDAT)');
  if (!sawIend) fail(label, 'corrupt PNG: no IEND chunk (file cut short?)');
  if (header.colorType === PngColorType.palette && !palette) fail(label, 'corrupt PNG: palette image without PLTE chunk');
  return { header, palette, idat };
}

/**
 * Reverses the PNG row filter in place. `row` is the filter byte's index, `prev` the previous
 * row's (or -1 for the first row); pixels are `bpp` bytes.
 */
function unfilterRow(buf: Uint8Array, row: number, prev: number, rowBytes: number, bpp: number, label: string, y: number): void {
  const filter = buf[row];
  const s = row + 1;
  const p = prev + 1;
  switch (filter) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < rowBytes; i++) buf[s + i] = (buf[s + i] + buf[s + i - bpp]) & 0xff;
      return;
    case 2:
      if (prev < 0) return;
      for (let i = 0; i < rowBytes; i++) buf[s + i] = (buf[s + i] + buf[p + i]) & 0xff;
      return;
    case 3:
      if (prev < 0) {
        for (let i = bpp; i < rowBytes; i++) buf[s + i] = (buf[s + i] + (buf[s + i - bpp] >> 1)) & 0xff;
        return;
      }
      for (let i = 0; i < bpp; i++) buf[s + i] = (buf[s + i] + (buf[p + i] >> 1)) & 0xff;
      for (let i = bpp; i < rowBytes; i++) buf[s + i] = (buf[s + i] + ((buf[s + i - bpp] + buf[p + i]) >> 1)) & 0xff;
      return;
    case 4:
      if (prev < 0) {
        // Paeth with an all-zero previous row reduces to Sub.
        for (let i = bpp; i < rowBytes; i++) buf[s + i] = (buf[s + i] + buf[s + i - bpp]) & 0xff;
        return;
      }
      for (let i = 0; i < bpp; i++) buf[s + i] = (buf[s + i] + buf[p + i]) & 0xff;
      for (let i = bpp; i < rowBytes; i++) {
        const a = buf[s + i - bpp];
        const b = buf[p + i];
        const c = buf[p + i - bpp];
        const pa = b > c ? b - c : c - b; // |p − a| with p = a + b − c
        const pb = a > c ? a - c : c - a; // |p − b|
        const d = a + b - c - c;
        const pc = d < 0 ? -d : d; // |p − c|
        buf[s + i] = (buf[s + i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
      }
      return;
    default:
      fail(label, `corrupt PNG: invalid filter type ${filter} on row ${y}`);
  }
}

/**
 * The same for two byte lanes of each pixel only (`l0`, `l1`: red and blue). PNG filters work byte
 * by byte with no carry between bytes, so lanes never read (green, the low bytes of 16-bit
 * samples) can stay filtered: a third to half of the work saved on the metrics' hot path.
 */
function unfilterTwoLanes(buf: Uint8Array, row: number, prev: number, rowBytes: number, bpp: number, l0: number, l1: number, label: string, y: number): void {
  const filter = buf[row];
  const s = row + 1;
  const end = s + rowBytes;
  const up = prev - row; // from a byte to the byte above it
  if (filter === 0) return;
  if (filter === 1 || (filter === 4 && prev < 0)) {
    // Sub, and Paeth on the first row (where it reduces to Sub).
    let a0 = buf[s + l0];
    let a1 = buf[s + l1];
    for (let i = s + bpp; i < end; i += bpp) {
      a0 = buf[i + l0] = (buf[i + l0] + a0) & 0xff;
      a1 = buf[i + l1] = (buf[i + l1] + a1) & 0xff;
    }
  } else if (filter === 2) {
    if (prev < 0) return;
    for (let i = s; i < end; i += bpp) {
      buf[i + l0] = (buf[i + l0] + buf[i + l0 + up]) & 0xff;
      buf[i + l1] = (buf[i + l1] + buf[i + l1 + up]) & 0xff;
    }
  } else if (filter === 3) {
    let a0: number;
    let a1: number;
    if (prev < 0) {
      a0 = buf[s + l0];
      a1 = buf[s + l1];
      for (let i = s + bpp; i < end; i += bpp) {
        a0 = buf[i + l0] = (buf[i + l0] + (a0 >> 1)) & 0xff;
        a1 = buf[i + l1] = (buf[i + l1] + (a1 >> 1)) & 0xff;
      }
      return;
    }
    a0 = buf[s + l0] = (buf[s + l0] + (buf[s + l0 + up] >> 1)) & 0xff;
    a1 = buf[s + l1] = (buf[s + l1] + (buf[s + l1 + up] >> 1)) & 0xff;
    for (let i = s + bpp; i < end; i += bpp) {
      a0 = buf[i + l0] = (buf[i + l0] + ((a0 + buf[i + l0 + up]) >> 1)) & 0xff;
      a1 = buf[i + l1] = (buf[i + l1] + ((a1 + buf[i + l1 + up]) >> 1)) & 0xff;
    }
  } else if (filter === 4) {
    // Paeth; the first pixel has a = c = 0, so its predictor is b.
    let c0 = buf[s + l0 + up];
    let c1 = buf[s + l1 + up];
    let a0 = (buf[s + l0] = (buf[s + l0] + c0) & 0xff);
    let a1 = (buf[s + l1] = (buf[s + l1] + c1) & 0xff);
    for (let i = s + bpp; i < end; i += bpp) {
      const b0 = buf[i + l0 + up];
      let pa = b0 - c0; // p − a with p = a + b − c
      let pb = a0 - c0; // p − b
      let pc = pa + pb; // p − c
      pa = pa < 0 ? -pa : pa;
      pb = pb < 0 ? -pb : pb;
      pc = pc < 0 ? -pc : pc;
      a0 = buf[i + l0] = (buf[i + l0] + (pa <= pb && pa <= pc ? a0 : pb <= pc ? b0 : c0)) & 0xff;
      c0 = b0;
      const b1 = buf[i + l1 + up];
      pa = b1 - c1;
      pb = a1 - c1;
      pc = pa + pb;
      pa = pa < 0 ? -pa : pa;
      pb = pb < 0 ? -pb : pb;
      pc = pc < 0 ? -pc : pc;
      a1 = buf[i + l1] = (buf[i + l1] + (pa <= pb && pa <= pc ? a1 : pb <= pc ? b1 : c1)) & 0xff;
      c1 = b1;
    }
  } else {
    fail(label, `corrupt PNG: invalid filter type ${filter} on row ${y}`);
  }
}

/**
 * unfilterTwoLanes specialised for the hot case, 8-bit RGB (pixels of 3 bytes, red and blue): with
 * constant offsets V8 compiles it about twice as fast. Up adds four bytes at once (byte-wise sum
 * without carries across bytes, through a DataView), green included since that costs nothing.
 */
function unfilterRgb8RedBlue(buf: Uint8Array, view: DataView, row: number, prev: number, rowBytes: number, label: string, y: number): void {
  const filter = buf[row];
  if (filter === 0) return;
  const s = row + 1;
  const end = s + rowBytes;
  const up = prev - row;
  if (filter === 2) {
    if (prev < 0) return;
    let i = s;
    for (; i + 4 <= end; i += 4) {
      const w = view.getUint32(i, true);
      const v = view.getUint32(i + up, true);
      view.setUint32(i, ((w & 0x7f7f7f7f) + (v & 0x7f7f7f7f)) ^ ((w ^ v) & 0x80808080), true);
    }
    for (; i < end; i++) buf[i] = buf[i] + buf[i + up];
  } else if (filter === 1 || (filter === 4 && prev < 0)) {
    let r = buf[s];
    let b = buf[s + 2];
    for (let i = s + 3; i < end; i += 3) {
      r = (buf[i] + r) & 0xff;
      buf[i] = r;
      b = (buf[i + 2] + b) & 0xff;
      buf[i + 2] = b;
    }
  } else if (filter === 3) {
    let r: number;
    let b: number;
    if (prev < 0) {
      r = buf[s];
      b = buf[s + 2];
      for (let i = s + 3; i < end; i += 3) {
        r = (buf[i] + (r >> 1)) & 0xff;
        buf[i] = r;
        b = (buf[i + 2] + (b >> 1)) & 0xff;
        buf[i + 2] = b;
      }
      return;
    }
    r = (buf[s] + (buf[s + up] >> 1)) & 0xff;
    buf[s] = r;
    b = (buf[s + 2] + (buf[s + 2 + up] >> 1)) & 0xff;
    buf[s + 2] = b;
    for (let i = s + 3; i < end; i += 3) {
      r = (buf[i] + ((r + buf[i + up]) >> 1)) & 0xff;
      buf[i] = r;
      b = (buf[i + 2] + ((b + buf[i + 2 + up]) >> 1)) & 0xff;
      buf[i + 2] = b;
    }
  } else if (filter === 4) {
    let cr = buf[s + up];
    let cb = buf[s + 2 + up];
    let r = (buf[s] + cr) & 0xff;
    let b = (buf[s + 2] + cb) & 0xff;
    buf[s] = r;
    buf[s + 2] = b;
    for (let i = s + 3; i < end; i += 3) {
      const br = buf[i + up];
      let pa = br - cr;
      let pb = r - cr;
      let pc = pa + pb;
      pa = pa < 0 ? -pa : pa;
      pb = pb < 0 ? -pb : pb;
      pc = pc < 0 ? -pc : pc;
      r = (buf[i] + (pa <= pb && pa <= pc ? r : pb <= pc ? br : cr)) & 0xff;
      buf[i] = r;
      cr = br;
      const bb = buf[i + 2 + up];
      pa = bb - cb;
      pb = b - cb;
      pc = pa + pb;
      pa = pa < 0 ? -pa : pa;
      pb = pb < 0 ? -pb : pb;
      pc = pc < 0 ? -pc : pc;
      b = (buf[i + 2] + (pa <= pb && pa <= pc ? b : pb <= pc ? bb : cb)) & 0xff;
      buf[i + 2] = b;
      cb = bb;
    }
  } else {
    fail(label, `corrupt PNG: invalid filter type ${filter} on row ${y}`);
  }
}

/** Converts one unfiltered row (starting at `src`) of `width` pixels to 8-bit RGB in `out`. */
type RowConverter = (raw: Uint8Array, src: number, width: number, out: Uint8Array, outOffset: number) => void;

function rowConverter(h: PngHeader, palette: Uint8Array | null, label: string): RowConverter {
  const { bitDepth: depth, colorType } = h;
  const wide = depth === 16 ? 2 : 1; // 16-bit: keep the first (most significant) byte of each sample
  switch (colorType) {
    case PngColorType.rgb:
    case PngColorType.rgba: {
      const step = (colorType === PngColorType.rgb ? 3 : 4) * wide;
      return (raw, src, width, out, o) => {
        for (let x = 0, i = src; x < width; x++, i += step, o += 3) {
          out[o] = raw[i];
          out[o + 1] = raw[i + wide];
          out[o + 2] = raw[i + 2 * wide];
        }
      };
    }
    case PngColorType.grayAlpha:
    case PngColorType.gray: {
      if (depth >= 8) {
        const step = (colorType === PngColorType.gray ? 1 : 2) * wide;
        return (raw, src, width, out, o) => {
          for (let x = 0, i = src; x < width; x++, i += step, o += 3) {
            const v = raw[i];
            out[o] = v;
            out[o + 1] = v;
            out[o + 2] = v;
          }
        };
      }
      const scale = 255 / ((1 << depth) - 1); // 255, 85 or 17: exact integers
      const mask = (1 << depth) - 1;
      return (raw, src, width, out, o) => {
        for (let x = 0; x < width; x++, o += 3) {
          const bit = x * depth;
          const v = ((raw[src + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask) * scale;
          out[o] = v;
          out[o + 1] = v;
          out[o + 2] = v;
        }
      };
    }
    default: {
      const pal = palette as Uint8Array;
      const entries = pal.length / 3;
      const mask = (1 << depth) - 1;
      return (raw, src, width, out, o) => {
        for (let x = 0; x < width; x++, o += 3) {
          let index: number;
          if (depth === 8) index = raw[src + x];
          else {
            const bit = x * depth;
            index = (raw[src + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
          }
          if (index >= entries) fail(label, `corrupt PNG: palette index ${index} outside a ${entries}-entry palette`);
          out[o] = pal[index * 3];
          out[o + 1] = pal[index * 3 + 1];
          out[o + 2] = pal[index * 3 + 2];
        }
      };
    }
  }
}

const ADAM7 = [
  // [xStart, yStart, xStep, yStep]
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
] as const;

function rowBytesFor(width: number, h: PngHeader): number {
  return Math.ceil((width * CHANNELS[h.colorType] * h.bitDepth) / 8);
}

/** Room for trailing bytes after the image data (libpng ignores them) while a runaway stream still fails fast. */
const INFLATE_SLACK = 65536;

function inflate(parsed: Parsed, expected: number, label: string, scratch: ImageScratch | undefined): Uint8Array {
  const { idat } = parsed;
  let compressed = idat[0];
  if (idat.length > 1) {
    let total = 0;
    for (const c of idat) total += c.length;
    const joined = scratch ? scratch.compressed.get(total) : Buffer.allocUnsafeSlow(total);
    let at = 0;
    for (const c of idat) {
      joined.set(c, at);
      at += c.length;
    }
    compressed = joined;
  }
  const capacity = expected + INFLATE_SLACK;
  let raw: Uint8Array;
  try {
    raw = inflateInto(compressed, scratch ? scratch.raw.get(capacity) : Buffer.allocUnsafeSlow(capacity)).data;
  } catch (err) {
    // By name: zlib's RangeError comes from Node's own realm, which `instanceof` misses under jest's VM.
    const reason = (err as Error).name === 'RangeError' ? 'more image data than the header declares' : (err as Error).message;
    fail(label, `corrupt PNG: image data does not decompress (${reason})`);
  }
  if (raw.length < expected) fail(label, `corrupt PNG: image data truncated (${raw.length} of ${expected} bytes)`);
  return raw;
}

function checkSize(h: PngHeader, label: string, options: DecodeOptions): void {
  const max = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (h.width * h.height > max) fail(label, `image of ${h.width}×${h.height} pixels exceeds the limit of ${max} pixels`);
}

/**
 * Reads a PNG's rows as 8-bit RGB one at a time, top to bottom (see the module comment for the
 * conversion rules). After `next()` returns true, row `y` has pixel x at `buf[offset + 3x]` (R),
 * `+1` (G), `+2` (B); the bytes are valid until the following `next()`. Pulling rows lets a caller
 * walk two images in step. Memory: the inflated image data (in `options.scratch` when given) plus one
 * row (a full RGB image for interlaced files).
 */
export class PngRowReader {
  readonly header: PngHeader;
  /** Current row, −1 before the first `next()`. */
  y = -1;
  buf: Uint8Array;
  offset = 0;
  private readonly raw: Uint8Array;
  private readonly stride: number;
  private readonly rowBytes: number;
  private readonly bpp: number;
  private readonly lane2: number;
  private readonly twoLanes: boolean;
  /** Set for 8-bit RGB in red/blue mode: the specialised unfilter's view of `raw`. */
  private readonly rgb8View: DataView | null = null;
  private readonly convert: RowConverter | null;
  private readonly label: string;

  constructor(bytes: Uint8Array, label: string, options: DecodeOptions = {}) {
    const parsed = parseChunks(bytes, label);
    const h = parsed.header;
    checkSize(h, label, options);
    this.header = h;
    this.label = label;
    this.bpp = Math.max(1, (CHANNELS[h.colorType] * h.bitDepth) >> 3);
    // Red and blue only: unfilter just those two byte lanes of RGB/RGBA pixels.
    this.lane2 = h.bitDepth === 16 ? 4 : 2;
    this.twoLanes = options.redBlueOnly === true && (h.colorType === PngColorType.rgb || h.colorType === PngColorType.rgba);
    if (h.interlaced) {
      // Decoded whole up front; rows are then views into the image.
      this.buf = decodeInterlaced(parsed, label, this.bpp, this.twoLanes, this.lane2, options.scratch);
      this.raw = this.buf;
      this.stride = h.width * 3;
      this.rowBytes = 0;
      this.convert = null;
      this.offset = -this.stride;
      return;
    }
    this.rowBytes = rowBytesFor(h.width, h);
    this.stride = this.rowBytes + 1;
    this.raw = inflate(parsed, this.stride * h.height, label, options.scratch);
    const direct = h.colorType === PngColorType.rgb && h.bitDepth === 8;
    this.convert = direct ? null : rowConverter(h, parsed.palette, label);
    if (direct && this.twoLanes) this.rgb8View = new DataView(this.raw.buffer, this.raw.byteOffset, this.raw.byteLength);
    this.buf = direct ? this.raw : new Uint8Array(h.width * 3);
  }

  /** Advances to the next row; false after the last one. */
  next(): boolean {
    const h = this.header;
    if (this.y + 1 >= h.height) return false;
    const y = ++this.y;
    if (h.interlaced) {
      this.offset += this.stride;
      return true;
    }
    const row = y * this.stride;
    const prev = y === 0 ? -1 : row - this.stride;
    if (this.rgb8View) unfilterRgb8RedBlue(this.raw, this.rgb8View, row, prev, this.rowBytes, this.label, y);
    else if (this.twoLanes) unfilterTwoLanes(this.raw, row, prev, this.rowBytes, this.bpp, 0, this.lane2, this.label, y);
    else unfilterRow(this.raw, row, prev, this.rowBytes, this.bpp, this.label, y);
    if (this.convert) this.convert(this.raw, row + 1, h.width, this.buf, 0);
    else this.offset = row + 1;
    return true;
  }
}

function decodeInterlaced(parsed: Parsed, label: string, bpp: number, twoLanes: boolean, lane2: number, scratch: ImageScratch | undefined): Uint8Array {
  // Adam7: seven reduced images, each filtered on its own; scatter them into a full RGB image.
  const h = parsed.header;
  const convert = rowConverter(h, parsed.palette, label);
  const passes = ADAM7.map(([x0, y0, dx, dy]) => {
    const w = h.width > x0 ? Math.ceil((h.width - x0) / dx) : 0;
    const ht = h.height > y0 ? Math.ceil((h.height - y0) / dy) : 0;
    return { x0, y0, dx, dy, w, h: ht, rowBytes: w > 0 ? rowBytesFor(w, h) : 0 };
  });
  const expected = passes.reduce((n, p) => n + (p.w > 0 && p.h > 0 ? (p.rowBytes + 1) * p.h : 0), 0);
  const raw = inflate(parsed, expected, label, scratch);
  const image = new Uint8Array(h.width * h.height * 3);
  const passRow = new Uint8Array(h.width * 3);
  let at = 0;
  for (const p of passes) {
    if (p.w === 0 || p.h === 0) continue;
    const stride = p.rowBytes + 1;
    for (let r = 0; r < p.h; r++) {
      const row = at + r * stride;
      const prev = r === 0 ? -1 : row - stride;
      if (twoLanes) unfilterTwoLanes(raw, row, prev, p.rowBytes, bpp, 0, lane2, label, r);
      else unfilterRow(raw, row, prev, p.rowBytes, bpp, label, r);
      convert(raw, row + 1, p.w, passRow, 0);
      const y = p.y0 + r * p.dy;
      for (let i = 0; i < p.w; i++) {
        const o = (y * h.width + p.x0 + i * p.dx) * 3;
        image[o] = passRow[i * 3];
        image[o + 1] = passRow[i * 3 + 1];
        image[o + 2] = passRow[i * 3 + 2];
      }
    }
    at += stride * p.h;
  }
  return image;
}

/** Decodes a PNG and hands its rows, as 8-bit RGB, to `sink` (see PngRowReader). */
export function decodePngRows(bytes: Uint8Array, label: string, sink: RgbRowSink, options: DecodeOptions = {}): PngHeader {
  const reader = new PngRowReader(bytes, label, options);
  while (reader.next()) sink(reader.y, reader.buf, reader.offset);
  return reader.header;
}

/** Decodes a whole PNG to an 8-bit RGB image (OpenCV `imread` semantics, RGB order). */
export function decodePngRgb(bytes: Uint8Array, label: string, options: DecodeOptions = {}): RgbImage {
  const { width, height } = readPngHeader(bytes, label);
  checkSize({ width, height } as PngHeader, label, options);
  const data = new Uint8Array(width * height * 3);
  const rowLen = width * 3;
  decodePngRows(bytes, label, (y, buf, offset) => {
    if (buf !== data) data.set(buf.subarray(offset, offset + rowLen), y * rowLen);
  }, options);
  return { width, height, data };
}
