/**
 * Demo data for the monitors: the custom monitors compare predicted masks with ground-truth masks
 * in a storage volume, so an evaluation run needs both there. On the sandbox (or on a cluster when
 * asked) the pipeline makes them the honest way: it draws synthetic microscopy-like tiles whose
 * ground truth is known, sends each tile to the deployed EDI model's inference endpoint (the demo
 * kernel of templates/edi-kernel thresholds luminance and returns a mask), and stores the ground
 * truth as `<dir_gt>/NAME.png` and the model's answer as `<dir_pred>/NAME_SegRefined.png` in DeepLIIF's
 * colours (red = positive cells, blue = negative cells). Nothing is made up: the metrics OpenScale
 * reports afterwards are those of the real predictions.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { z } from 'zod';
import { RunbookError } from '../errors';
import type { HttpClient } from '../http/client';
import type { MutationOptions } from '../plan';
import { mapLimit } from '../util/map-limit';
import { seededRandom } from '../util/seeded-random';
import { uploadToVolume } from '../volumes/client';
import type { EdiClient } from '../wmla/edi';

/** Luminance thresholds the demo asks the threshold kernel for: bright cells are positive, any cell is above `cells`. */
export const DEMO_THRESHOLDS = { positive: 172, cells: 78 } as const;

type Rgb = readonly [number, number, number];
const BACKGROUND: Rgb = [30, 26, 34]; // luminance ≈ 28
const POSITIVE: Rgb = [235, 212, 190]; // ≈ 216: stained (positive) nuclei
const NEGATIVE: Rgb = [120, 128, 160]; // ≈ 129: counter-stained (negative) nuclei

/** One synthetic tile: the image sent to the model and its true mask. */
export interface DemoTile {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** RGB PNG of the tile. */
  readonly image: Buffer;
  /** RGB PNG, DeepLIIF colours: red = positive cell, blue = negative cell, black = background. */
  readonly groundTruth: Buffer;
  readonly cells: { readonly positive: number; readonly negative: number };
}

function encodeRgb(width: number, height: number, rgb: Uint8Array): Buffer {
  const png = new PNG({ width, height });
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    png.data[i * 4] = rgb[j]!;
    png.data[i * 4 + 1] = rgb[j + 1]!;
    png.data[i * 4 + 2] = rgb[j + 2]!;
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: 2 });
}

/**
 * Draws tile `index` (deterministic): 5–9 elliptic nuclei on a dark background, about 45 % of them
 * positive, with soft edges and Gaussian noise, so that a luminance threshold gets most pixels right
 * but not all (edges, noise), as a real model would.
 */
export function generateTile(index: number, size = 128): DemoTile {
  const rand = seededRandom(0x5eed + index * 7919); // the same tiles on every run
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const n = 5 + Math.floor(rand() * 5);
  const cells = Array.from({ length: n }, () => ({
    cx: 12 + rand() * (size - 24),
    cy: 12 + rand() * (size - 24),
    rx: 6 + rand() * 7,
    ry: 6 + rand() * 7,
    angle: rand() * Math.PI,
    positive: rand() < 0.45,
  }));
  const image = new Uint8Array(size * size * 3);
  const truth = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // Nuclei are painted in order over the background, each with a soft edge about 1.5 px wide.
      const px = [BACKGROUND[0], BACKGROUND[1], BACKGROUND[2]];
      let label: 'positive' | 'negative' | undefined;
      for (const c of cells) {
        const dx = x + 0.5 - c.cx;
        const dy = y + 0.5 - c.cy;
        const u = (dx * Math.cos(c.angle) + dy * Math.sin(c.angle)) / c.rx;
        const v = (-dx * Math.sin(c.angle) + dy * Math.cos(c.angle)) / c.ry;
        const d = Math.sqrt(u * u + v * v);
        const cov = Math.min(1, Math.max(0, (1 - d) * (Math.min(c.rx, c.ry) / 1.5) + 0.5));
        const colour = c.positive ? POSITIVE : NEGATIVE;
        for (let ch = 0; ch < 3; ch++) px[ch] = px[ch]! * (1 - cov) + colour[ch]! * cov;
        if (d <= 1) label = c.positive ? 'positive' : 'negative';
      }
      const k = (y * size + x) * 3;
      for (let ch = 0; ch < 3; ch++) image[k + ch] = Math.max(0, Math.min(255, Math.round(px[ch]! + gauss() * 14)));
      if (label === 'positive') truth[k] = 255;
      if (label === 'negative') truth[k + 2] = 255;
    }
  }
  const positive = cells.filter((c) => c.positive).length;
  return {
    name: `demo-tile-${String(index + 1).padStart(3, '0')}`,
    width: size,
    height: size,
    image: encodeRgb(size, size, image),
    groundTruth: encodeRgb(size, size, truth),
    cells: { positive, negative: n - positive },
  };
}

/** What the demo kernel answers for an image (templates/edi-kernel/README.md). */
const KernelReply = z.looseObject({
  status: z.string(),
  mask: z.string().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  foreground_fraction: z.number().optional(),
  msg: z.string().optional(),
});

/** Foreground (255) pixels of the kernel's 8-bit gray mask, as a boolean array. */
function maskOf(reply: unknown, what: string): { fg: Uint8Array; width: number; height: number; fraction: number } {
  const parsed = KernelReply.safeParse(reply);
  if (!parsed.success) throw new RunbookError('remote', `${what}: the model answered ${JSON.stringify(reply).slice(0, 200)}, not a mask reply`);
  const r = parsed.data;
  if (r.status !== 'finished' || typeof r.mask !== 'string') throw new RunbookError('remote', `${what}: the model answered status ${r.status}${r.msg ? `: ${r.msg}` : ''}`);
  const png = PNG.sync.read(Buffer.from(r.mask, 'base64'));
  const fg = new Uint8Array(png.width * png.height);
  let count = 0;
  for (let i = 0; i < fg.length; i++) {
    if (png.data[i * 4]! > 127) {
      fg[i] = 1;
      count++;
    }
  }
  return { fg, width: png.width, height: png.height, fraction: count / fg.length };
}

/**
 * A DeepLIIF-style prediction from two threshold masks: red where the `positive` mask is set, blue
 * where only the `cells` mask is, black elsewhere.
 */
export function predictionPng(positive: Uint8Array, cells: Uint8Array, width: number, height: number): Buffer {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    if (positive[i]) rgb[i * 3] = 255;
    else if (cells[i]) rgb[i * 3 + 2] = 255;
  }
  return encodeRgb(width, height, rgb);
}

/** Asks the deployed model for the prediction of one tile (two inference calls: positive cells, all cells). */
export async function predictTile(edi: EdiClient, modelName: string, tile: DemoTile, thresholds: { positive: number; cells: number } = DEMO_THRESHOLDS): Promise<Buffer> {
  const image = tile.image.toString('base64');
  const what = `inference of ${tile.name} by ${modelName}`;
  const positive = maskOf(await edi.infer(modelName, { image, threshold: thresholds.positive }, { idempotent: true }), what);
  const cells = maskOf(await edi.infer(modelName, { image, threshold: thresholds.cells }, { idempotent: true }), what);
  if (positive.width !== tile.width || positive.height !== tile.height || cells.width !== tile.width || cells.height !== tile.height) {
    throw new RunbookError('remote', `${what}: the mask is ${positive.width}×${positive.height}, the tile ${tile.width}×${tile.height}`);
  }
  return predictionPng(positive.fg, cells.fg, tile.width, tile.height);
}

/** The outcome of {@link smokeTest}. */
export interface SmokeTestResult {
  /** The kernel echoed a JSON object unchanged (its liveness check). */
  readonly echo: boolean;
  readonly width: number;
  readonly height: number;
  /** Share of the tile the model marked as foreground. */
  readonly foregroundFraction: number;
  readonly elapsedMs: number;
}

/**
 * One real inference against the deployed model: a ping-pong object (echoed by the demo kernel) and
 * a tile, whose mask must have the tile's size. Throws a RunbookError naming what went wrong.
 */
export async function smokeTest(edi: EdiClient, modelName: string): Promise<SmokeTestResult> {
  const started = Date.now();
  const ping = { ping: 'cpd-runbook smoke test' };
  const echoed = await edi.infer(modelName, ping, { idempotent: true });
  const echo = JSON.stringify(echoed) === JSON.stringify(ping);
  const tile = generateTile(0);
  const mask = maskOf(await edi.infer(modelName, { image: tile.image.toString('base64'), threshold: DEMO_THRESHOLDS.cells }, { idempotent: true }), `smoke test of ${modelName}`);
  if (mask.width !== tile.width || mask.height !== tile.height) {
    throw new RunbookError('remote', `smoke test of ${modelName}: the mask is ${mask.width}×${mask.height}, the tile ${tile.width}×${tile.height}`);
  }
  return { echo, width: mask.width, height: mask.height, foregroundFraction: mask.fraction, elapsedMs: Date.now() - started };
}

/** A folder pair of a storage volume the monitors read. */
export interface DemoLocation {
  readonly volume: string;
  readonly dirGt: string;
  readonly dirPred: string;
}

/** Options of {@link seedDemoData}. */
export interface SeedOptions extends MutationOptions {
  /** Tiles (default 12). */
  readonly count?: number;
  readonly thresholds?: { positive: number; cells: number };
  /** Tiles in flight at once (default 2). */
  readonly concurrency?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** What {@link seedDemoData} stored (or, planned, would store). */
export interface SeedResult {
  readonly tiles: number;
  readonly locations: readonly (DemoLocation & { readonly groundTruthFiles: number; readonly predictionFiles: number })[];
  readonly bytes: number;
  readonly planned: boolean;
}

/**
 * Draws `count` tiles, gets the deployed model's prediction of each, and uploads ground truth and
 * predictions to every location (the same names each run, so a re-run replaces its own files and
 * the image counts stay the same). Plan mode runs no inference and uploads nothing: it records the
 * uploads.
 */
export async function seedDemoData(edi: EdiClient, cpd: HttpClient, modelName: string, locations: readonly DemoLocation[], opts: SeedOptions = {}): Promise<SeedResult> {
  const count = opts.count ?? 12;
  const tiles = Array.from({ length: count }, (_, i) => generateTile(i));
  const root = await mkdtemp(join(tmpdir(), 'cpd-runbook-demo-'));
  try {
    const gtDir = join(root, 'gt');
    const predDir = join(root, 'pred');
    await mkdir(gtDir);
    await mkdir(predDir);
    let done = 0;
    if (!opts.plan) {
      for (const t of tiles) await writeFile(join(gtDir, `${t.name}.png`), t.groundTruth);
      await mapLimit(tiles, opts.concurrency ?? 2, async (t) => {
        await writeFile(join(predDir, `${t.name}_SegRefined.png`), await predictTile(edi, modelName, t, opts.thresholds));
        opts.onProgress?.(++done, count);
      });
    }
    let bytes = 0;
    const stored: SeedResult['locations'][number][] = [];
    for (const loc of locations) {
      if (opts.plan) {
        opts.plan.record({ service: 'volumes', action: 'upload', resource: 'files', target: `${loc.volume}:${loc.dirGt}/demo-tile-*.png`, detail: `${count} ground-truth masks of the demo tiles` });
        opts.plan.record({ service: 'volumes', action: 'upload', resource: 'files', target: `${loc.volume}:${loc.dirPred}/demo-tile-*_SegRefined.png`, detail: `${count} predictions of ${modelName} (inference runs when applied)` });
        stored.push({ ...loc, groundTruthFiles: count, predictionFiles: count });
        continue;
      }
      const gt = await uploadToVolume(cpd, loc.volume, gtDir, loc.dirGt);
      const pred = await uploadToVolume(cpd, loc.volume, predDir, loc.dirPred);
      bytes += gt.bytes + pred.bytes;
      stored.push({ ...loc, groundTruthFiles: gt.files.length, predictionFiles: pred.files.length });
    }
    return { tiles: count, locations: stored, bytes, planned: Boolean(opts.plan) };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The distinct volume folders a deployment entry's monitors read. */
export function monitorLocations(monitors: Readonly<Record<string, { volume_display_name: string; dir_gt: string; dir_pred: string }>>): DemoLocation[] {
  const seen = new Map<string, DemoLocation>();
  for (const m of Object.values(monitors)) {
    const loc = { volume: m.volume_display_name, dirGt: m.dir_gt, dirPred: m.dir_pred };
    seen.set(JSON.stringify(loc), loc);
  }
  return [...seen.values()];
}
