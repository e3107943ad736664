import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { RunbookError, ValidationError } from '../../src/lib/errors';
import { lintDeploymentThresholds } from '../../src/lib/metadata';
import { thresholdsLint } from '../../src/cli/commands/thresholds';
import { ASSET_ID, sampleEntry } from './fixtures/metadata';

const dir = mkdtempSync(join(tmpdir(), 'thr-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, value: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof value === 'string' ? value : dump(value));
  return p;
}

describe('lintDeploymentThresholds', () => {
  it('locates findings by YAML path across entries and monitors', () => {
    const e = sampleEntry();
    e.openscale_custom_metric_provider.segmentation_metrics.thresholds.precision = { threshold: [0.6, 'lower'] };
    e.openscale_custom_metric_provider.generic_metrics.thresholds.num_images = { threshold: [5, 'lower'] };
    const f = lintDeploymentThresholds({ [ASSET_ID]: e });
    expect(f.map((x) => [x.path, x.severity])).toEqual([
      [`${ASSET_ID}.openscale_custom_metric_provider.segmentation_metrics.thresholds.precision`, 'warning'],
      [`${ASSET_ID}.openscale_custom_metric_provider.generic_metrics.thresholds.num_images`, 'error'],
    ]);
  });

  it('accepts the predecessor un-keyed entry with versioned monitor ids', () => {
    const e = sampleEntry();
    e.openscale_custom_metric_provider = { segmentation_metrics_v22: { ...e.openscale_custom_metric_provider.segmentation_metrics, thresholds: { Dice_positive: { threshold: [20, 'lower'] } } } };
    const f = lintDeploymentThresholds(e);
    expect(f).toEqual([expect.objectContaining({ path: 'openscale_custom_metric_provider.segmentation_metrics_v22.thresholds.Dice_positive', severity: 'warning' })]);
  });
});

describe('runbook thresholds lint', () => {
  it('prints warnings and passes when there is no error', () => {
    const e = sampleEntry();
    e.openscale_custom_metric_provider.segmentation_metrics.thresholds.precision = { threshold: [0.6, 'lower'] };
    const file = write('warn.yml', { [ASSET_ID]: e });
    let out = '';
    const findings = thresholdsLint(file, {}, (t) => (out += t));
    expect(findings).toHaveLength(1);
    expect(out).toContain(`${file}: warning: ${ASSET_ID}.openscale_custom_metric_provider.segmentation_metrics.thresholds.precision: precision is a percentage`);
    expect(out).toContain('0 errors, 1 warning');
    expect(() => thresholdsLint(file, { strict: true }, () => undefined)).toThrow(ValidationError);
  });

  it('fails on errors, and lints a bare thresholds mapping with --monitor', () => {
    const file = write('bare.yml', 'thresholds:\n  Dice: {threshold: [20, lower]}\n  dice_positive: {threshold: [0.2, lower]}\n');
    let out = '';
    let err: unknown;
    try {
      thresholdsLint(file, { monitor: 'segmentation_metrics', json: true }, (t) => (out += t));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const report = JSON.parse(out);
    expect(report.errors).toBe(1);
    expect(report.findings[0].message).toContain('did you mean "Dice_positive"');
  });

  it('asks for --monitor when the file has no monitor section, and reports unreadable files as usage errors', () => {
    const file = write('plain.yml', 'precision: {threshold: [60, lower]}\n');
    expect(() => thresholdsLint(file, {}, () => undefined)).toThrow(/give --monitor/);
    let err: unknown;
    try {
      thresholdsLint(join(dir, 'missing.yml'), {}, () => undefined);
    } catch (e) {
      err = e;
    }
    expect((err as RunbookError).kind).toBe('usage');
  });
});
