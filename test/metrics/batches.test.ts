import { describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../src/lib/errors';
import { PACKED, readFileInto, runCountBatch, type CountReply, type PairJob } from '../../src/lib/metrics/count-job';
import { countPngPair, type PairCounts, type PngPairCounts } from '../../src/lib/metrics/masks';
import { countImagePairs, countPairsInOrder, type CountOptions, type PairInput, type PairList, type PairSequence } from '../../src/lib/metrics/pool';
import { ReusableBuffer, pairScratch } from '../../src/lib/metrics/scratch';
import { computeSegmentationMetrics } from '../../src/lib/metrics/segmentation';
import {
  SEGMENTATION_BASE_METRICS,
  SEGMENTATION_METRIC_NAMES,
  SegmentationMetricsAccumulator,
  aggregateSegmentationMetrics,
  imageMetrics,
  type SegmentationMetrics,
} from '../../src/lib/metrics/segmentation-math';
import { encodePng, lcg, tempDir, writeRgbPng, type EncodeSpec } from './helpers';

// Real PNG files and worker threads on a shared 2-core machine: generous time (the file runs in ~25 s).
jest.setTimeout(120_000);

// Fixtures are made in jest's vm context, where every global lookup (Math, Uint8Array, …) is slow:
// pngjs needs ~1 s per 512×512 image there. So masks are drawn from a small colour table in runs
// (few random numbers), and the 512×512 files are written with the helpers' encoder using filters
// 0–2 only (no Math calls per byte), palette and grayscale images being cheaper still (one sample a pixel).

/** Mask colours: background, red, blue, both at their weakest (1), green only (not foreground), and mixes. */
const COLOURS: [number, number, number][] = [[0, 0, 0], [255, 0, 0], [0, 0, 255], [1, 0, 1], [0, 255, 0], [128, 77, 0], [0, 30, 200], [60, 255, 60]];
const CHEAP_FILTERS = [0, 1, 2];

/** Colour indices of `count` pixels: runs of 1–16 pixels of one colour, starting at about `density`/256 of every 8-pixel step. */
function colourIndices(count: number, seed: number, density: number): Uint8Array {
  const next = lcg(seed);
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i += 8) {
    const r = next();
    if (r < density) out.fill(1 + (next() % (COLOURS.length - 1)), i, i + 1 + (r & 15));
  }
  return out;
}

/** RGB bytes of colour indices. */
function rgbOf(indices: Uint8Array): Uint8Array {
  const rgb = new Uint8Array(indices.length * 3);
  for (let i = 0; i < indices.length; i++) {
    const c = COLOURS[indices[i]];
    rgb[3 * i] = c[0];
    rgb[3 * i + 1] = c[1];
    rgb[3 * i + 2] = c[2];
  }
  return rgb;
}

/** Writes a mask PNG and returns its RGB bytes: RGB (8-bit) or palette, optionally split into many IDAT chunks. */
function writeMask(path: string, width: number, height: number, seed: number, density: number, form: 'rgb' | 'palette', idatChunk?: number): Uint8Array {
  const indices = colourIndices(width * height, seed, density);
  const rgb = rgbOf(indices);
  const spec: EncodeSpec = form === 'rgb'
    ? { width, height, colorType: 2, bitDepth: 8, samples: Array.from(rgb), filters: CHEAP_FILTERS, idatChunk }
    : { width, height, colorType: 3, bitDepth: 8, samples: Array.from(indices), palette: COLOURS, filters: CHEAP_FILTERS, idatChunk };
  writeFileSync(path, encodePng(spec));
  return rgb;
}

/** Counts written straight from the definition (positive: red > 0, negative: blue > 0) for two 512×512 RGB images. */
function plainCounts(pred: Uint8Array, gt: Uint8Array): PngPairCounts {
  const count = (channel: number): { tp: number; fp: number; fn: number; tn: number } => {
    let tp = 0, fp = 0, fn = 0, tn = 0;
    for (let i = channel; i < pred.length; i += 3) {
      const p = pred[i] > 0;
      const g = gt[i] > 0;
      if (p && g) tp++;
      else if (p) fp++;
      else if (g) fn++;
      else tn++;
    }
    return { tp, fp, fn, tn };
  };
  return { positive: count(0), negative: count(2), predictionSize: [512, 512], groundTruthSize: [512, 512] };
}

/** The 12 numbers of a pair in the documented packed order. */
function packedOf(c: PngPairCounts): number[] {
  const { positive: p, negative: n } = c;
  return [p.tp, p.fp, p.fn, p.tn, n.tp, n.fp, n.fn, n.tn, c.predictionSize[0], c.predictionSize[1], c.groundTruthSize[0], c.groundTruthSize[1]];
}

/** A reply's counts as one number[] per pair. */
function pairsOf(reply: CountReply): number[][] {
  expect(reply.counts.length % PACKED).toBe(0);
  return Array.from({ length: reply.counts.length / PACKED }, (_, i) => Array.from(reply.counts.subarray(i * PACKED, (i + 1) * PACKED)));
}

/** countPngPair on the two files, read plainly (no scratch, no batch, no worker): the reference of a pair. */
function referenceCounts(prediction: string, groundTruth: string): PngPairCounts {
  return countPngPair(readFileSync(prediction), readFileSync(groundTruth), { prediction, groundTruth });
}

/** Threads of this process (Linux), to see worker threads come and go. */
const threadCount = (): number => readdirSync('/proc/self/task').length;

// ---------------------------------------------------------------------------------------------
// count-job: one batch, in the calling thread

interface BatchFixture {
  dir: string;
  /** Pairs of files in the order the batch counts them; `plain` when the counts follow from the pixels directly (512×512). */
  pairs: { prediction: string; groundTruth: string; plain?: PngPairCounts }[];
  junk: string;
}

let batchFixture: BatchFixture | null = null;

/**
 * Pairs chosen so that one scratch sees sizes change from pair to pair: small, 512 RGB, a resized
 * prediction against a 512 ground truth, 512 palette split into many IDAT chunks, 512 grayscale (less
 * image data than RGB: a stale tail would be in the buffer), and a small one again.
 */
function batchFiles(): BatchFixture {
  if (batchFixture) return batchFixture;
  const dir = tempDir('batch-');
  const file = (name: string): string => join(dir, name);
  const pairs: BatchFixture['pairs'] = [];
  writeRgbPng(file('small_p.png'), 64, 48, rgbOf(colourIndices(64 * 48, 1, 80))); // pngjs: a second, independent encoder
  writeRgbPng(file('small_g.png'), 64, 48, rgbOf(colourIndices(64 * 48, 2, 60)));
  pairs.push({ prediction: file('small_p.png'), groundTruth: file('small_g.png') });

  const bigP = writeMask(file('big_p.png'), 512, 512, 3, 40, 'rgb');
  const bigG = writeMask(file('big_g.png'), 512, 512, 4, 40, 'palette');
  pairs.push({ prediction: file('big_p.png'), groundTruth: file('big_g.png'), plain: plainCounts(bigP, bigG) });

  writeMask(file('mixed_p.png'), 300, 200, 5, 60, 'rgb');
  pairs.push({ prediction: file('mixed_p.png'), groundTruth: file('big_g.png') });

  const splitP = writeMask(file('split_p.png'), 512, 512, 6, 50, 'palette', 4096);
  pairs.push({ prediction: file('split_p.png'), groundTruth: file('big_p.png'), plain: plainCounts(splitP, bigP) });

  // Grayscale: R = G = B = gray, so a gray pixel > 0 is both positive and negative; and less image data than RGB.
  const gray = colourIndices(512 * 512, 7, 30).map((v) => v * 30);
  writeFileSync(file('gray_g.png'), encodePng({ width: 512, height: 512, colorType: 0, bitDepth: 8, samples: Array.from(gray), filters: CHEAP_FILTERS }));
  const grayRgb = new Uint8Array(512 * 512 * 3);
  gray.forEach((v, i) => grayRgb.fill(v, i * 3, i * 3 + 3));
  pairs.push({ prediction: file('big_p.png'), groundTruth: file('gray_g.png'), plain: plainCounts(bigP, grayRgb) });

  writeRgbPng(file('tiny_p.png'), 7, 5, rgbOf(colourIndices(35, 8, 250)));
  writeRgbPng(file('tiny_g.png'), 9, 3, rgbOf(colourIndices(27, 9, 250)));
  pairs.push({ prediction: file('tiny_p.png'), groundTruth: file('tiny_g.png') });

  writeFileSync(file('junk.png'), 'this is not a PNG');
  batchFixture = { dir, pairs, junk: file('junk.png') };
  return batchFixture;
}

const jobOf = (p: { prediction: string; groundTruth: string }): PairJob => ({ prediction: { path: p.prediction }, groundTruth: { path: p.groundTruth } });

describe('runCountBatch (the unit of work of a worker)', () => {
  it('packs 12 numbers per pair, equal to countPngPair on each pair, and to plain pixel counts on 512×512 pairs', () => {
    const { pairs } = batchFiles();
    const reply = runCountBatch({ id: 40, pairs: pairs.map(jobOf) });
    expect(reply.id).toBe(40);
    expect(reply.error).toBeUndefined();
    expect(reply.counts.length).toBe(pairs.length * PACKED);
    const got = pairsOf(reply);
    pairs.forEach((p, i) => {
      expect(got[i]).toEqual(packedOf(referenceCounts(p.prediction, p.groundTruth)));
      if (p.plain) expect(got[i]).toEqual(packedOf(p.plain));
    });
    // The fixture is not degenerate: the pairs' counts differ and have foreground of both classes.
    expect(new Set(got.map((c) => c.join())).size).toBe(pairs.length);
    expect(got[1][0]).toBeGreaterThan(0);
    expect(got[1][4]).toBeGreaterThan(0);
    expect(got[2].slice(8)).toEqual([300, 200, 512, 512]);
  });

  it('takes bytes as well as paths', () => {
    const { pairs } = batchFiles();
    const [, big] = pairs;
    const reply = runCountBatch({ id: 0, pairs: [{ prediction: { bytes: readFileSync(big.prediction) }, groundTruth: { path: big.groundTruth } }] });
    expect(pairsOf(reply)).toEqual([packedOf(big.plain as PngPairCounts)]);
  });

  it('gives identical counts with a scratch, reused across batches and across images of different sizes', () => {
    const { pairs } = batchFiles();
    const without = pairsOf(runCountBatch({ id: 0, pairs: pairs.map(jobOf) }));
    const scratch = pairScratch();
    expect(pairsOf(runCountBatch({ id: 0, pairs: pairs.map(jobOf) }, scratch))).toEqual(without);
    // Same scratch again, reversed order: every size change happens the other way round.
    expect(pairsOf(runCountBatch({ id: 0, pairs: [...pairs].reverse().map(jobOf) }, scratch))).toEqual([...without].reverse());
    // One pair per batch, alternating small/large, as a worker sees them.
    const order = [0, 1, 5, 3, 2, 4, 0, 4, 1];
    for (const i of order) {
      expect(pairsOf(runCountBatch({ id: i, pairs: [jobOf(pairs[i])] }, scratch))).toEqual([without[i]]);
    }
    // A non-512 image then a 512 one with the same scratch (the case the brief names explicitly).
    const fresh = pairScratch();
    expect(pairsOf(runCountBatch({ id: 0, pairs: [jobOf(pairs[2]), jobOf(pairs[1])] }, fresh))).toEqual([without[2], without[1]]);
    expect(fresh.prediction.raw.keptBytes).toBeGreaterThan(0); // the scratch was really used
  });

  it('stops at a missing file: counts of the pairs before it, and an error naming that file', () => {
    const { pairs, dir } = batchFiles();
    const missing = join(dir, 'nope_SegRefined.png');
    const jobs = [jobOf(pairs[0]), jobOf(pairs[1]), { prediction: { path: missing }, groundTruth: { path: pairs[1].groundTruth } }, jobOf(pairs[3])];
    for (const scratch of [undefined, pairScratch()]) {
      const reply = runCountBatch({ id: 10, pairs: jobs }, scratch);
      expect(reply.id).toBe(10);
      expect(pairsOf(reply)).toEqual([packedOf(referenceCounts(pairs[0].prediction, pairs[0].groundTruth)), packedOf(referenceCounts(pairs[1].prediction, pairs[1].groundTruth))]);
      expect(reply.error).toEqual({ kind: 'validation', message: `${missing}: file not found`, issues: [{ path: missing, message: 'file not found' }] });
    }
  });

  it('stops at a corrupt PNG or a folder, naming it (by its label when one is given)', () => {
    const { pairs, junk, dir } = batchFiles();
    const cut = join(dir, 'cut.png');
    writeFileSync(cut, readFileSync(pairs[1].groundTruth).subarray(0, 2000)); // a real PNG cut short
    const folder = join(dir, 'a-folder.png');
    mkdirSync(folder, { recursive: true });
    const cases: { bad: PairJob; named: string; problem: RegExp }[] = [
      { bad: { prediction: { path: pairs[0].prediction }, groundTruth: { path: junk } }, named: junk, problem: /not a PNG file/ },
      { bad: { prediction: { path: cut }, groundTruth: { path: pairs[1].groundTruth } }, named: cut, problem: /corrupt PNG/ },
      { bad: { prediction: { path: folder }, groundTruth: { path: pairs[1].groundTruth } }, named: folder, problem: /is a folder, not a file/ },
      {
        bad: { prediction: { bytes: Buffer.from('junk') }, groundTruth: { path: pairs[1].groundTruth }, labels: { prediction: 'volume:/pred/x_SegRefined.png', groundTruth: 'volume:/gt/x.png' } },
        named: 'volume:/pred/x_SegRefined.png',
        problem: /not a PNG file/,
      },
    ];
    const scratch = pairScratch();
    for (const { bad, named, problem } of cases) {
      const reply = runCountBatch({ id: 3, pairs: [jobOf(pairs[1]), bad, jobOf(pairs[0])] }, scratch);
      expect(pairsOf(reply)).toEqual([packedOf(pairs[1].plain as PngPairCounts)]);
      expect(reply.error?.kind).toBe('validation');
      expect(reply.error?.message.startsWith(`${named}: `)).toBe(true);
      expect(reply.error?.message).toMatch(problem);
      expect(reply.error?.issues[0]?.path).toBe(named);
    }
    // The first pair failing: no counts at all.
    const first = runCountBatch({ id: 0, pairs: [cases[0].bad, jobOf(pairs[0])] });
    expect(first.counts.length).toBe(0);
    expect(first.error?.message).toContain(junk);
  });

  it('refuses an image above maxPixels, naming it', () => {
    const { pairs } = batchFiles();
    const reply = runCountBatch({ id: 0, pairs: [jobOf(pairs[0]), jobOf(pairs[1])], maxPixels: 100 * 100 });
    expect(reply.counts.length).toBe(PACKED);
    const message = reply.error?.message ?? '';
    // Either file of the 512×512 pair may be the one checked first: the message names the one refused.
    expect([pairs[1].prediction, pairs[1].groundTruth].some((f) => message.startsWith(`${f}: image of 512×512 pixels exceeds the limit of 10000 pixels`))).toBe(true);
  });
});

describe('readFileInto', () => {
  it('reads files into one reused buffer, growing it for a larger file', () => {
    const { pairs } = batchFiles();
    const into = new ReusableBuffer();
    const big = readFileInto(pairs[1].prediction, into);
    expect(Buffer.from(big).equals(readFileSync(pairs[1].prediction))).toBe(true);
    const small = readFileInto(pairs[0].prediction, into);
    expect(Buffer.from(small).equals(readFileSync(pairs[0].prediction))).toBe(true);
    expect(small.length).toBeLessThan(big.length);
    expect(small.buffer).toBe(big.buffer); // the small file went into the big one's memory
    const dir = tempDir('readinto-');
    const larger = join(dir, 'larger.bin');
    const largerSize = into.keptBytes + 100;
    writeFileSync(larger, Buffer.alloc(largerSize, 7));
    const grown = readFileInto(larger, into);
    expect(grown.length).toBe(largerSize);
    expect(into.keptBytes).toBe(largerSize);
    expect(grown.every((b) => b === 7)).toBe(true);
    const empty = join(dir, 'empty.png');
    writeFileSync(empty, '');
    expect(readFileInto(empty, into).length).toBe(0);
  });

  it('reads a file larger than maxKeptBytes without keeping it', () => {
    const dir = tempDir('readinto-');
    const path = join(dir, 'f.bin');
    const content = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 255));
    writeFileSync(path, content);
    const into = new ReusableBuffer(1000);
    expect(Buffer.from(readFileInto(path, into)).equals(content)).toBe(true);
    expect(into.keptBytes).toBe(0);
  });

  it('reports a folder as a folder and a missing file as missing', () => {
    const dir = tempDir('readinto-');
    const into = new ReusableBuffer();
    expect(() => readFileInto(dir, into)).toThrow(expect.objectContaining({ code: 'EISDIR' })); 
    expect(() => readFileInto(join(dir, 'missing.png'), into)).toThrow(expect.objectContaining({ code: 'ENOENT' })); 
  });

  it('reads what is not a regular file (a device) as readFileSync would', () => {
    if (!existsSync('/dev/null')) return;
    expect(readFileInto('/dev/null', new ReusableBuffer()).length).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// pool: many pairs, several batches, in input order

const N = 100;

interface PoolFixture {
  dir: string;
  pairs: PairInput[];
  /** countPngPair of each pair, read plainly: what every run must give, in this order. */
  reference: PngPairCounts[];
  junk: string;
}

let poolFixture: PoolFixture | null = null;

/**
 * N pairs over a few files: 512×512 predictions and ground truths combined so that neighbouring
 * pairs differ (5 predictions × 3 ground truths repeat every 15 pairs; names are all distinct), and
 * every tenth pair has a small prediction (resized), so a worker's scratch changes size now and then.
 */
function poolFiles(): PoolFixture {
  if (poolFixture) return poolFixture;
  const dir = tempDir('pool-batches-');
  const write = (name: string, seed: number, density: number): string => {
    const path = join(dir, name);
    writeMask(path, 512, 512, seed, density, 'palette');
    return path;
  };
  const preds = Array.from({ length: 5 }, (_, k) => write(`pred${k}.png`, 100 + k, k === 0 ? 0 : 10 * k));
  const gts = Array.from({ length: 3 }, (_, k) => write(`gt${k}.png`, 200 + k, 15 + 10 * k));
  const smalls = [[17, 9], [30, 30], [8, 40]].map(([w, h], k) => {
    const path = join(dir, `s${k}.png`);
    writeRgbPng(path, w, h, rgbOf(colourIndices(w * h, 300 + k, 120)));
    return path;
  });
  const pairs: PairInput[] = Array.from({ length: N }, (_, i) => ({
    name: `img${String(i).padStart(3, '0')}.png`,
    prediction: i % 10 === 3 ? smalls[i % 3] : preds[i % 5],
    groundTruth: gts[i % 3],
  }));
  const memo = new Map<string, PngPairCounts>();
  const reference = pairs.map((p) => {
    const key = `${p.prediction}|${p.groundTruth}`;
    if (!memo.has(key)) memo.set(key, referenceCounts(p.prediction as string, p.groundTruth as string));
    return memo.get(key) as PngPairCounts;
  });
  const junk = join(dir, 'junk.png');
  writeFileSync(junk, 'not a png');
  poolFixture = { dir, pairs, reference, junk };
  return poolFixture;
}

interface Received {
  indices: number[];
  names: string[];
  counts: number[][];
}

/** Runs countPairsInOrder, recording what the sink receives (copying the counts: they are valid only during the call). */
async function collect(pairs: PairList, options: CountOptions): Promise<{ received: Received; outcome: Promise<unknown> }> {
  const received: Received = { indices: [], names: [], counts: [] };
  const outcome = countPairsInOrder(pairs, options, (index, packed, at, pair) => {
    received.indices.push(index);
    received.names.push(pair.name);
    received.counts.push(Array.from(packed.subarray(at, at + PACKED)));
  });
  // Settle without an unhandled rejection; callers inspect `outcome`.
  await outcome.catch(() => undefined);
  return { received, outcome };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('countPairsInOrder / countImagePairs over many pairs', () => {
  it.each([0, 1, 2])('hands pairs 0..n-1 to the sink strictly in order with %i worker(s), with the reference counts', async (workers) => {
    const { pairs, reference } = poolFiles();
    const { received, outcome } = await collect(pairs, { workers });
    await expect(outcome).resolves.toEqual(workers === 0 ? { mode: 'in-thread', workers: 0 } : { mode: 'threads', workers });
    expect(received.indices).toEqual(range(N));
    expect(received.names).toEqual(pairs.map((p) => p.name));
    expect(received.counts).toEqual(reference.map(packedOf));
  });

  it.each([0, 1, 2])(
    'takes a PairSequence like the array, and keeps order when the first batch is held back (%i workers): results wait, and the run does not race ahead',
    async (workers) => {
      const { pairs, reference } = poolFiles();
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      let requested = 0; // highest index asked of the sequence + 1
      let requestedWhileHeld = -1;
      const sequence: PairSequence = {
        length: N,
        get(i) {
          requested = Math.max(requested, i + 1);
          const p = pairs[i];
          if (i !== 0) return { name: p.name, prediction: p.prediction, groundTruth: p.groundTruth };
          // Pair 0 comes from a loader that waits until the rest of the run has gone as far as it will.
          return {
            name: p.name,
            prediction: async () => {
              await waitUntilSettled(() => requested);
              requestedWhileHeld = requested;
              release();
              return readFile(p.prediction as string);
            },
            groundTruth: p.groundTruth,
          };
        },
      };
      const { received, outcome } = await collect(sequence, { workers });
      await held;
      await expect(outcome).resolves.toMatchObject({ workers });
      expect(received.indices).toEqual(range(N));
      expect(received.names).toEqual(pairs.map((p) => p.name));
      expect(received.counts).toEqual(reference.map(packedOf));
      // While pair 0 was held, later pairs were counted (with workers) but the run stopped short of the end.
      expect(requestedWhileHeld).toBeGreaterThanOrEqual(1);
      expect(requestedWhileHeld).toBeLessThan(N);
      if (workers > 0) expect(requestedWhileHeld).toBeGreaterThan(8);
    },
  );

  it.each([0, 1, 2])('with a bad pair in the middle of a batch (%i workers), rejects with its error after passing exactly the pairs before it', async (workers) => {
    const { pairs, reference, dir, junk } = poolFiles();
    const k = 37; // not at a batch boundary for batch sizes 5, 6 or 8
    const missing = join(dir, 'missing_SegRefined.png');
    const variants: { list: PairInput[]; message: string }[] = [
      { list: pairs.map((p, i) => (i === k ? { ...p, prediction: missing } : p)), message: `${missing}: file not found` },
      { list: pairs.map((p, i) => (i === k ? { ...p, groundTruth: junk } : p)), message: `${junk}: not a PNG file (bad signature)` },
      // A second bad pair later: the first one in input order is reported.
      { list: pairs.map((p, i) => (i === k ? { ...p, groundTruth: junk } : i === k + 9 ? { ...p, prediction: missing } : p)), message: `${junk}: not a PNG file` },
    ];
    for (const { list, message } of variants) {
      const { received, outcome } = await collect(list, { workers });
      await expect(outcome).rejects.toThrow(message);
      await expect(outcome).rejects.toBeInstanceOf(ValidationError);
      expect(received.indices).toEqual(range(k));
      expect(received.counts).toEqual(reference.slice(0, k).map(packedOf));
    }
  });

  it.each([0, 2])('with a loader that rejects at index k (%i workers), behaves the same', async (workers) => {
    const { pairs, reference } = poolFiles();
    const k = 45;
    const loaded: PairInput[] = pairs.map((p, i) => ({
      name: p.name,
      prediction: () => readFile(p.prediction as string),
      groundTruth: i === k ? () => Promise.reject(new Error('HTTP 404')) : () => readFile(p.groundTruth as string),
    }));
    const { received, outcome } = await collect(loaded, { workers });
    await expect(outcome).rejects.toThrow(`${pairs[k].name} (ground truth): cannot be read (HTTP 404)`);
    expect(received.indices).toEqual(range(k));
    expect(received.counts).toEqual(reference.slice(0, k).map(packedOf));
  });

  it('gives the same results, unpacked, for 0, 1, 2 and "auto" workers through countImagePairs', async () => {
    const { pairs } = poolFiles();
    const subset = pairs.slice(0, 30);
    const runs = await Promise.all([0, 1, 2, 'auto' as const].map((workers) => countImagePairs(subset, { workers })));
    for (const r of runs) expect(r.counts).toEqual(runs[0].counts);
    expect(runs[0].counts).toEqual(poolFiles().reference.slice(0, 30));
  });

  it('when aborted mid-run, rejects and stops its worker threads', async () => {
    const { pairs } = poolFiles();
    await countImagePairs(pairs.slice(0, 8), { workers: 2 }); // threads this process keeps anyway (libuv pool, …) are up
    const before = threadCount();
    for (const workers of [2, 0]) {
      const controller = new AbortController();
      let during = 0;
      const { received, outcome } = await collect(pairs, {
        workers,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.done === 30) {
            during = threadCount();
            controller.abort(new Error('provider timeout'));
          }
        },
      });
      await expect(outcome).rejects.toThrow('segmentation metrics cancelled: provider timeout');
      // What reached the sink is an in-order prefix, cut soon after the abort.
      expect(received.indices).toEqual(range(received.indices.length));
      expect(received.indices.length).toBeGreaterThanOrEqual(30);
      expect(received.indices.length).toBeLessThan(N);
      if (workers > 0) {
        expect(during).toBeGreaterThanOrEqual(before + workers); // the check sees worker threads…
        expect(await threadsBackTo(before)).toBeLessThanOrEqual(before); // …and they are gone once the call has settled
      }
    }
  });

  // A download that hangs must not keep an aborted run (e.g. a provider timeout) waiting.
  it.each([0, 2])('settles an aborted run without waiting for a pending loader (%i workers)', async (workers) => {
    const { pairs } = poolFiles();
    const controller = new AbortController();
    let loaderDone = false;
    const slow: PairInput[] = pairs.slice(0, 20).map((p, i) =>
      i !== 2
        ? p
        : {
            ...p,
            groundTruth: async () => {
              setTimeout(() => controller.abort(new Error('provider timeout')), 50);
              await new Promise((r) => setTimeout(r, 1000)); // a download that takes far longer than the timeout
              loaderDone = true;
              return readFile(p.groundTruth as string);
            },
          },
    );
    const run = countImagePairs(slow, { workers, signal: controller.signal });
    await expect(run).rejects.toThrow(/cancelled/);
    expect(loaderDone).toBe(false);
  });
});

/** Resolves once `value()` has not changed for a while (the pool has gone as far as it will), at most a few seconds. */
async function waitUntilSettled(value: () => number): Promise<void> {
  let last = value();
  let stableSince = Date.now();
  const started = Date.now();
  while (Date.now() - stableSince < 300 && Date.now() - started < 8000) {
    await new Promise((r) => setTimeout(r, 20));
    if (value() !== last) {
      last = value();
      stableSince = Date.now();
    }
  }
}

/** The thread count once it is back to `target` (polling briefly: a terminated thread may take a moment to be reaped). */
async function threadsBackTo(target: number): Promise<number> {
  const started = Date.now();
  let n = threadCount();
  while (n > target && Date.now() - started < 5000) {
    await new Promise((r) => setTimeout(r, 20));
    n = threadCount();
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// segmentation: aggregation as pairs arrive

/** The macro mean over images written out plainly (per-image metrics from imageMetrics, tested elsewhere against a reference). */
function plainAggregate(images: readonly PairCounts[]): SegmentationMetrics {
  const sums: Record<string, number> = {};
  for (const name of SEGMENTATION_METRIC_NAMES) sums[name] = 0;
  for (const counts of images) {
    const m = imageMetrics(counts);
    for (const b of SEGMENTATION_BASE_METRICS) {
      sums[b] += m.mean[b];
      sums[`${b}_positive`] += m.positive[b];
      sums[`${b}_negative`] += m.negative[b];
    }
  }
  const out: Record<string, number> = {};
  for (const name of SEGMENTATION_METRIC_NAMES) out[name] = sums[name] / images.length;
  return out as SegmentationMetrics;
}

const justCounts = (c: PngPairCounts): PairCounts => ({ positive: c.positive, negative: c.negative });

describe('computeSegmentationMetrics without per-image results', () => {
  it('gives the same metrics as with per-image results, and no images', async () => {
    const { pairs, reference } = poolFiles();
    const subset = pairs.slice(0, 40);
    const expected = plainAggregate(reference.slice(0, 40).map(justCounts));
    const kept = await computeSegmentationMetrics(subset, { workers: 2 });
    const lean = await computeSegmentationMetrics(subset, { workers: 2, perImage: false });
    const leanInThread = await computeSegmentationMetrics(subset, { workers: 0, perImage: false });
    expect(lean.metrics).toEqual(kept.metrics);
    expect(leanInThread.metrics).toEqual(kept.metrics);
    expect(kept.metrics).toEqual(expected); // same order of additions: the same doubles
    expect(lean.images).toEqual([]);
    expect(leanInThread.images).toEqual([]);
    expect(lean.execution).toEqual({ mode: 'threads', workers: 2 });
    expect(kept.images.map((im) => im.name)).toEqual(subset.map((p) => p.name));
    expect(kept.images.map((im) => im.counts)).toEqual(reference.slice(0, 40).map(justCounts));
    expect(kept.images.map((im) => [...im.predictionSize, ...im.groundTruthSize])).toEqual(reference.slice(0, 40).map((c) => packedOf(c).slice(8)));
  });

  it('keeps every image of a run longer than its first table (over 1024 pairs), from a PairSequence', async () => {
    const { pairs, reference, dir } = poolFiles();
    // Mostly all-background 512×512 pairs (cheap to count), with pairs of the fixture spread through
    // the run and filling its end, past the 1024th image.
    const background = join(dir, 'background.png');
    writeFileSync(background, encodePng({ width: 512, height: 512, colorType: 2, bitDepth: 8, samples: new Array<number>(512 * 512 * 3).fill(0), filters: [0] }));
    const empty = { tp: 0, fp: 0, fn: 0, tn: 512 * 512 };
    const total = 1100;
    const sourceOf = (i: number): number | null => (i % 50 === 7 || i >= 1015 ? i % N : null);
    const sequence: PairSequence = {
      length: total,
      get: (i) => {
        const k = sourceOf(i);
        return k === null ? { name: `n${i}.png`, prediction: background, groundTruth: background } : { name: `n${i}.png`, prediction: pairs[k].prediction, groundTruth: pairs[k].groundTruth };
      },
    };
    const expectedCounts = range(total).map((i) => {
      const k = sourceOf(i);
      return k === null ? { positive: empty, negative: empty } : justCounts(reference[k]);
    });
    const kept = await computeSegmentationMetrics(sequence, { workers: 2 });
    expect(kept.images.length).toBe(total);
    expect(kept.images.map((im) => im.name)).toEqual(range(total).map((i) => `n${i}.png`));
    expect(kept.images.map((im) => im.counts)).toEqual(expectedCounts);
    const lean = await computeSegmentationMetrics(sequence, { workers: 2, perImage: false });
    expect(lean.images).toEqual([]);
    expect(lean.metrics).toEqual(kept.metrics);
    expect(kept.metrics).toEqual(plainAggregate(expectedCounts));
  });
});

describe('SegmentationMetricsAccumulator', () => {
  const countsArb = fc.record({ tp: fc.nat(300), fp: fc.nat(300), fn: fc.nat(300), tn: fc.nat(300) });
  const imagesArb = fc.array(fc.record({ positive: countsArb, negative: countsArb }), { minLength: 1, maxLength: 10 });

  it('equals aggregateSegmentationMetrics and the plain macro mean, after every image added', () => {
    fc.assert(
      fc.property(imagesArb, (images) => {
        const acc = new SegmentationMetricsAccumulator();
        images.forEach((counts, i) => {
          acc.add(counts);
          expect(acc.images).toBe(i + 1);
          const prefix = images.slice(0, i + 1);
          const now = acc.result();
          expect(now).toEqual(aggregateSegmentationMetrics(prefix));
          expect(now).toEqual(plainAggregate(prefix));
        });
      }),
      { numRuns: 60 },
    );
  });

  it('returns a new object from result() and does not change its sums by it', () => {
    const acc = new SegmentationMetricsAccumulator();
    const image: PairCounts = { positive: { tp: 5, fp: 1, fn: 2, tn: 10 }, negative: { tp: 0, fp: 0, fn: 0, tn: 18 } };
    acc.add(image);
    const a = acc.result();
    a.Dice = -1;
    const b = acc.result();
    expect(b).not.toBe(a);
    expect(b).toEqual(plainAggregate([image]));
    expect(Object.keys(b).sort()).toEqual([...SEGMENTATION_METRIC_NAMES].sort());
  });

  it('throws a RangeError with no images', () => {
    const acc = new SegmentationMetricsAccumulator();
    expect(acc.images).toBe(0);
    expect(() => acc.result()).toThrow(RangeError);
    expect(() => acc.result()).toThrow('segmentation metrics: no images to average');
    expect(() => aggregateSegmentationMetrics([])).toThrow(RangeError);
  });
});
