import { describe, expect, it, jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setMtime, tempDir, writeRgbPng } from './helpers';

jest.setTimeout(120_000);

const BIN = resolve(__dirname, '..', '..', 'bin', 'runbook.js');

function runbook(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Three pairs: prediction i paints columns x < 8 + 4i red, the ground truth x < 12; blue is empty in both. */
function maskFolders(suffix = '_SegRefined.png', gtName = (n: string) => `${n}.png`): { gt: string; pred: string } {
  const root = tempDir('cli-');
  const gt = join(root, 'gt');
  const pred = join(root, 'pred');
  mkdirSync(gt);
  mkdirSync(pred);
  ['a', 'b', 'c'].forEach((n, i) => {
    writeRgbPng(join(pred, `${n}${suffix}`), 32, 32, (x) => [x < 8 + 4 * i ? 255 : 0, 0, 0]);
    writeRgbPng(join(gt, gtName(`${n}${suffix}`.slice(0, -suffix.length))), 32, 32, (x) => [x < 12 ? 255 : 0, 0, 0]);
  });
  return { gt, pred };
}

describe('runbook metrics segmentation', () => {
  it('prints the metrics as JSON under the monitor names, with units and the selection', () => {
    const { gt, pred } = maskFolders();
    const r = runbook('metrics', 'segmentation', '--gt', gt, '--pred', pred, '--json', '--workers', '0');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    // Recall: a finds 8 of 12 columns, b 12 of 12, c 12 of 12 (exact: 32 → 512 is a whole-block upscale
    // for these column edges); the negative class is empty in both, so its metrics are all 1.
    expect(out.metrics.recall_positive).toBeCloseTo((8 / 12 + 1 + 1) / 3, 2);
    expect(out.metrics.recall_negative).toBe(1);
    expect(out.metrics.precision_positive).toBeCloseTo((1 + 1 + 12 / 16) / 3, 2);
    expect(out.units).toMatchObject({ Dice: 'percent', Dice_positive: 'fraction' });
    expect(out.selection).toMatchObject({ predictions: 3, pairs: 3, notRecent: 0 });
    expect(out.execution).toEqual({ mode: 'in-thread', workers: 0 });
    expect(out.metrics.Dice).toBeCloseTo(50 * (out.metrics.Dice_positive + out.metrics.Dice_negative), 9);
  });

  it('prints a table of metric, value and unit, and OpenScale ids with --ids', () => {
    const { gt, pred } = maskFolders();
    const table = runbook('metrics', 'segmentation', '--gt', gt, '--pred', pred);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/^3 pair\(s\) evaluated\n\nmetric +value +unit\n/);
    expect(table.stdout).toMatch(/\nPixAcc_negative +1\.000000 +fraction\n/);
    expect(table.stdout).toMatch(/\nrecall_negative +1\.000000 +fraction\n/);
    expect(table.stdout).toMatch(/\nDice +\d+\.\d{4} +percent\n/);
    const ids = runbook('metrics', 'segmentation', '--gt', gt, '--pred', pred, '--ids', '--json');
    const out = JSON.parse(ids.stdout);
    expect(Object.keys(out.metrics)).toEqual(expect.arrayContaining(['dice', 'iou', 'pixacc', 'dice_positive', 'iou_negative', 'precision']));
    expect(out.metrics.Dice).toBeUndefined();
    expect(out.units.pixacc).toBe('percent');
  });

  it('evaluates NAME_Seg.png with --raw, and same-name ground truth with --gt-same-name', () => {
    const raw = maskFolders('_Seg.png');
    expect(runbook('metrics', 'segmentation', '--gt', raw.gt, '--pred', raw.pred, '--raw', '--json').status).toBe(0);
    expect(runbook('metrics', 'segmentation', '--gt', raw.gt, '--pred', raw.pred, '--json').stderr).toMatch(/has no file named \*_SegRefined\.png/);
    const same = maskFolders('_Seg.png', (n) => `${n}_Seg.png`);
    const r = runbook('metrics', 'segmentation', '--gt', same.gt, '--pred', same.pred, '--suffix', '_Seg.png', '--gt-same-name', '--json', '--per-image');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).images.map((i: { name: string }) => i.name)).toEqual(['a_Seg.png', 'b_Seg.png', 'c_Seg.png']);
  });

  it('fails with one line naming the bad file and exit code 8', () => {
    const { gt, pred } = maskFolders();
    writeFileSync(join(pred, 'b_SegRefined.png'), 'not a png');
    const r = runbook('metrics', 'segmentation', '--gt', gt, '--pred', pred);
    expect(r.status).toBe(8);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`runbook: ${join(pred, 'b_SegRefined.png')}: not a PNG file (bad signature)\n`);
    writeRgbPng(join(pred, 'orphan_SegRefined.png'), 4, 4, () => [0, 0, 0]);
    expect(runbook('metrics', 'segmentation', '--gt', gt, '--pred', pred).stderr).toMatch(/orphan_SegRefined\.png \(expected orphan\.png\)/);
  });

  it('applies --most-recent and --min-pairs', () => {
    const { gt, pred } = maskFolders();
    setMtime(join(gt, 'a.png'), new Date(Date.now() - 9 * 86_400_000));
    const r = runbook('metrics', 'segmentation', '--gt', gt, '--pred', pred, '--most-recent', '5');
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(/needs at least 3 recent prediction\/ground-truth pairs .*; found 2/);
    const ok = runbook('metrics', 'segmentation', '--gt', gt, '--pred', pred, '--most-recent', '5', '--min-pairs', '2');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^2 pair\(s\) evaluated, modified since \S+; 1 older pair\(s\) left out/);
  });

  it('rejects bad flag values as usage errors and documents itself', () => {
    const { gt, pred } = maskFolders();
    const bad = runbook('metrics', 'segmentation', '--gt', gt, '--pred', pred, '--workers', 'many');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--workers: expected an integer ≥ 0, got 'many'/);
    expect(runbook('metrics', 'segmentation', '--gt', gt).status).toBe(2);
    const help = runbook('metrics', 'segmentation', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--raw/);
    expect(help.stdout).toMatch(/percent \(0-100\)/);
  });
});

describe('runbook metrics generic', () => {
  it('prints the four counts as a table or JSON', () => {
    const { gt, pred } = maskFolders();
    writeFileSync(join(pred, 'a.json'), '{}');
    setMtime(join(pred, 'c_SegRefined.png'), new Date(Date.now() - 3 * 86_400_000));
    const json = runbook('metrics', 'generic', '--gt', gt, '--pred', pred, '--most-recent', '2', '--json');
    expect(json.status).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out.metrics).toEqual({ num_images_total_ground_truth: 3, num_images_total_predicted: 3, num_images_recent_ground_truth: 3, num_images_recent_predicted: 2 });
    expect(out.units.num_images_total_predicted).toBe('count');
    expect(out.ignored).toEqual({ groundTruth: 0, predicted: 1 });
    const table = runbook('metrics', 'generic', '--gt', gt, '--pred', pred, '--most-recent', '2');
    expect(table.stdout).toMatch(/\nnum_images_recent_predicted +2 +count\n/);
    expect(table.stdout).toMatch(/1 non-image file\(s\) not counted/);
    expect(runbook('metrics', 'generic', '--gt', gt, '--pred', pred).status).toBe(2);
    expect(runbook('metrics', 'generic', '--gt', gt, '--pred', pred, '--most-recent', '-1').status).toBe(2);
  });
});
