#!/usr/bin/env node
// Writes the sample masks of examples/masks/ (B1_Custom_Monitor_Dev_and_Test's default input):
// ground truth of 4 synthetic tiles (src/lib/pipeline/demo-data.ts) and predictions made the way the
// demo model makes them (the luminance thresholds of examples/demo-model/threshold.json), offline.
// Run after `npm run build`:  node examples/masks/make-masks.mjs
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { generateTile, predictionPng } = require('../../dist/src/lib/pipeline/demo-data.js');
const { PNG } = require('pngjs');
const model = JSON.parse(readFileSync(join(here, '..', 'demo-model', 'threshold.json'), 'utf8'));

function above(image, threshold) {
  const png = PNG.sync.read(image);
  const mask = new Uint8Array(png.width * png.height);
  for (let i = 0; i < mask.length; i++) {
    const lum = 0.299 * png.data[i * 4] + 0.587 * png.data[i * 4 + 1] + 0.114 * png.data[i * 4 + 2];
    mask[i] = lum >= threshold ? 1 : 0;
  }
  return mask;
}

for (const dir of ['gt', 'pred']) mkdirSync(join(here, dir), { recursive: true });
for (let i = 0; i < 4; i++) {
  const tile = generateTile(i, 64);
  writeFileSync(join(here, 'gt', `${tile.name}.png`), tile.groundTruth);
  const pred = predictionPng(above(tile.image, model.positive_threshold), above(tile.image, model.cell_threshold), tile.width, tile.height);
  writeFileSync(join(here, 'pred', `${tile.name}_SegRefined.png`), pred);
  console.log(`${tile.name}: ${tile.cells.positive} positive, ${tile.cells.negative} negative nuclei`);
}
