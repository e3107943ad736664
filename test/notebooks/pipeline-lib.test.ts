/**
 * src/lib/pipeline: the parts of the notebooks' steps that need no services (the end-to-end test
 * covers the rest against the sandbox).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { ValidationError } from '../../src/lib/errors';
import { FileMetadataStore } from '../../src/lib/metadata/file-store';
import { deploymentMetadata } from '../../src/lib/metadata/space-store';
import { deploymentMetadataCodec } from '../../src/lib/metadata/yaml';
import { imageMetrics } from '../../src/lib/metrics/segmentation-math';
import { GENERIC_MONITOR, SEGMENTATION_MONITOR } from '../../src/lib/monitors/definitions';
import type { SubscriptionStatus } from '../../src/lib/openscale/status';
import { Plan } from '../../src/lib/plan';
import { assertChildSucceeded, childOutputPrinter, childRunLine } from '../../src/lib/pipeline/children';
import { checkLocalInputs, childRunDecision, renderEntry, withRecordedFields, writeDeploymentEntry, type EntrySettings } from '../../src/lib/pipeline/config';
import { childOutputDir, pipelineChildren, requireIds, type RunContext } from '../../src/lib/pipeline/context';
import { generateTile, monitorLocations, predictionPng } from '../../src/lib/pipeline/demo-data';
import { openDeploymentMetadata } from '../../src/lib/pipeline/deploy';
import { evaluateFolders } from '../../src/lib/pipeline/local-metrics';
import { checkpoint, findCheckpoints, textTable } from '../../src/lib/pipeline/report';
import { historyChart, historyChartSpec, historyPoints, statusHtml, statusText } from '../../src/lib/pipeline/status-view';
import { assertThresholdsUsable, resolveMonitorThresholds, thresholdsById } from '../../src/lib/pipeline/thresholds';
import { parseNotebook } from '../../src/runner/notebook';
import { resolveParameters } from '../../src/runner/parameters/index';
import type { DataAssets } from '../../src/lib/wml/assets';

const ROOT = resolve(__dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'nb-pipeline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const context: RunContext = {
  profile: '',
  space_id: 'space-1',
  model_asset_id: 'model-1',
  plan: false,
  seed_demo_data: true,
  service_provider_name: 'OpenScale Headless Service Provider',
  subscription_name: '',
  run_evaluation: true,
  metadata_file: '',
};

describe('run context', () => {
  it('gives each pipeline notebook exactly the parameters it declares, with the declared types', () => {
    const children = pipelineChildren(context, { runTraining: true, outDir: join(tmp, 'out'), notebooksDir: join(ROOT, 'notebooks') });
    expect(children.map((c) => c.notebook)).toEqual(['A1_Submit_WMLA_Training', 'A2_WMLA_Model_Deploy', 'A3_OpenScale_Configuration']);
    for (const child of children) {
      const notebook = parseNotebook(readFileSync(child.input, 'utf8'), child.input);
      // Throws a ParameterError for an unknown name or a value of the wrong type.
      const { values } = resolveParameters(notebook, { values: child.parameters, texts: {} }, ROOT);
      expect(values).toEqual(child.parameters);
      expect(child.output).toBe(join(tmp, 'out', `${child.notebook}.ipynb`));
    }
    expect(pipelineChildren(context, { runTraining: false, outDir: tmp }).map((c) => c.notebook)).toEqual(['A2_WMLA_Model_Deploy', 'A3_OpenScale_Configuration']);
  });

  it('rejects a context without ids, naming the field', () => {
    expect(() => pipelineChildren({ ...context, model_asset_id: '' }, { runTraining: false, outDir: tmp })).toThrow(/model_asset_id/);
    expect(() => requireIds({ space_id: '', model_asset_id: 'm' }, 'A2_WMLA_Model_Deploy')).toThrow(/space_id not set.*-p space_id=/);
    expect(() => requireIds({ space_id: 's', model_asset_id: 'a b' }, 'A3')).toThrow(ValidationError);
    expect(requireIds({ space_id: 's-1', model_asset_id: 'm-1' }, 'A3')).toEqual({ spaceId: 's-1', modelAssetId: 'm-1' });
  });

  it('puts child runs next to the parent output in a folder named after its run', () => {
    expect(childOutputDir({ RUNBOOK_OUTPUT: '/x/out/A.ipynb', RUNBOOK_RUN_ID: 'run-7' })).toBe('/x/out/run-7');
    expect(childOutputDir({ RUNBOOK_RUN_ID: 'run-8' })).toBe(resolve('out', 'run-8'));
    expect(childOutputDir({}, new Date('2024-06-01T10:20:30.400Z'))).toBe(resolve('out', 'manual-20240601T102030Z'));
  });

  it('runs children in plan mode only when their inputs exist, against the planned metadata when it changes', () => {
    expect(childRunDecision({ plan: false, assetsPlanned: true, entryStored: false, metadataPlanned: true })).toEqual({ run: true, useMetadataFile: false });
    expect(childRunDecision({ plan: true, assetsPlanned: true, entryStored: true, metadataPlanned: false }).run).toBe(false);
    expect(childRunDecision({ plan: true, assetsPlanned: false, entryStored: false, metadataPlanned: true }).run).toBe(false);
    expect(childRunDecision({ plan: true, assetsPlanned: false, entryStored: true, metadataPlanned: true })).toEqual({ run: true, useMetadataFile: true });
    expect(childRunDecision({ plan: true, assetsPlanned: false, entryStored: true, metadataPlanned: false })).toEqual({ run: true, useMetadataFile: false });
  });
});

describe('user configuration and the deployment entry', () => {
  const model = join(tmp, 'model');
  const deps = join(tmp, 'deps');
  mkdirSync(model, { recursive: true });
  mkdirSync(deps, { recursive: true });
  writeFileSync(join(model, 'weights.bin'), 'w');
  writeFileSync(join(deps, 'kernel.py'), 'k');

  it('names every bad input at once', () => {
    let err: ValidationError | undefined;
    try {
      checkLocalInputs({ model_path: join(tmp, 'nope'), dependency_path: join(tmp, 'model', 'weights.bin'), kernel_filename: 'kernel.py', deployment_name: 'Bad Name' });
    } catch (e) {
      err = e as ValidationError;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect(err!.issues.map((i) => i.path)).toEqual(['model_path', 'dependency_path', 'deployment_name']);
    expect(err!.message).toMatch(/nope does not exist/);
    expect(err!.message).toMatch(/weights\.bin is a file/);
    expect(() => checkLocalInputs({ model_path: model, dependency_path: deps, kernel_filename: 'serve.py', deployment_name: 'ok' })).toThrow(/kernel_filename: serve\.py is not a file/);
  });

  it('derives the data asset names the upload gives (folder → .zip)', () => {
    const inputs = checkLocalInputs({ model_path: model, dependency_path: deps, kernel_filename: 'kernel.py', deployment_name: 'demo-1' });
    expect(inputs.model).toEqual({ path: model, kind: 'folder', assetName: 'model.zip' });
    expect(inputs.dependency.assetName).toBe('deps.zip');
    const file = checkLocalInputs({ model_path: join(model, 'weights.bin'), dependency_path: deps, kernel_filename: 'kernel.py', deployment_name: 'demo-1' });
    expect(file.model).toMatchObject({ kind: 'file', assetName: 'weights.bin' });
  });

  async function settings(): Promise<EntrySettings> {
    const thresholds = await resolveMonitorThresholds(undefined, ['segmentation_metrics', 'generic_metrics'], { segmentation_metrics: { Dice: 20 } });
    return {
      space_id: 'space-1',
      model_name: 'Demo',
      deployment_name: 'demo-1',
      inputs: checkLocalInputs({ model_path: model, dependency_path: deps, kernel_filename: 'kernel.py', deployment_name: 'demo-1' }),
      resource_configs: { enable_gpus: 'False', n_cpus: 2 },
      monitors: { volume_display_name: 'vol', dir_gt: 'gt', dir_pred: 'pred', most_recent: { segmentation_metrics: 5, generic_metrics: 1 }, thresholds: thresholdsById(thresholds) },
    };
  }

  it('fills the template into a validated entry: draft key first, then the model asset id', async () => {
    const s = await settings();
    const draft = renderEntry(s);
    expect(draft.key).toBe('MODEL_ASSET_ID');
    const final = renderEntry(s, 'asset-42');
    expect(final.key).toBe('asset-42');
    expect(final.entry.model_asset).toBe('model.zip');
    expect(final.entry.wmla_deployment).toMatchObject({ deployment_name: 'demo-1', dependency_filename: 'deps.zip', deployment_url: null });
    expect(final.entry.wmla_deployment.resource_configs.enable_gpus).toBe(false);
    expect(final.entry.openscale_custom_metric_provider.segmentation_metrics!.thresholds!.Dice).toEqual({ threshold: [20, 'lower'] });
    expect(final.entry.openscale_custom_metric_provider.generic_metrics!.most_recent).toBe(1);
    expect(renderEntry(s, '(planned)').key).toBe('MODEL_ASSET_ID');
  });

  it('writes the entry once: a second write of the same configuration changes nothing and keeps what A2 and A3 recorded', async () => {
    const file = join(tmp, 'deployment_metadata.yml');
    const meta = deploymentMetadata(new FileMetadataStore(file, deploymentMetadataCodec));
    const { key, entry } = renderEntry(await settings(), 'asset-42');
    expect((await writeDeploymentEntry(meta, key, entry)).changed).toBe(true);
    await meta.update(key, { openscale_subscription_id: 'sub-1', wmla_deployment: { deployment_url: 'http://edi/x' } });
    const text = readFileSync(file, 'utf8');
    const again = await writeDeploymentEntry(meta, key, entry);
    expect(again.changed).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(again.entry).toMatchObject({ openscale_subscription_id: 'sub-1', wmla_deployment: { deployment_url: 'http://edi/x' } });

    // A changed threshold is written, still keeping the recorded fields; a plan writes nothing.
    const changed = structuredClone(entry);
    changed.openscale_custom_metric_provider.segmentation_metrics!.thresholds!.Dice = { threshold: [30, 'lower'] };
    const plan = new Plan();
    const planned = await writeDeploymentEntry(meta, key, changed, { plan });
    expect(planned).toMatchObject({ changed: true, planned: true });
    expect(plan.changes).toEqual([expect.objectContaining({ service: 'metadata', action: 'update', target: key })]);
    expect(readFileSync(file, 'utf8')).toBe(text);
    const applied = await writeDeploymentEntry(meta, key, changed);
    expect(applied.entry!.openscale_custom_metric_provider.segmentation_metrics!.thresholds!.Dice).toEqual({ threshold: [30, 'lower'] });
    expect(applied.entry!.openscale_subscription_id).toBe('sub-1');
  });

  it('moves the entry of an earlier model version to the new model asset id, with what A2 and A3 recorded', async () => {
    const meta = deploymentMetadata(new FileMetadataStore(join(tmp, 'rekey.yml'), deploymentMetadataCodec));
    const s = await settings();
    await writeDeploymentEntry(meta, 'asset-1', renderEntry(s, 'asset-1').entry);
    await meta.update('asset-1', { openscale_subscription_id: 'sub-9', wmla_deployment: { deployment_url: 'http://edi/demo-1' } });
    const other = renderEntry({ ...s, deployment_name: 'other-1' }, 'asset-x').entry;
    await writeDeploymentEntry(meta, 'asset-x', other);
    const moved = await writeDeploymentEntry(meta, 'asset-2', renderEntry(s, 'asset-2').entry);
    expect(moved.superseded).toEqual(['asset-1']);
    expect(Object.keys(moved.doc).sort()).toEqual(['asset-2', 'asset-x']);
    expect(moved.entry).toMatchObject({ openscale_subscription_id: 'sub-9', wmla_deployment: { deployment_url: 'http://edi/demo-1' } });
    expect((await writeDeploymentEntry(meta, 'asset-2', renderEntry(s, 'asset-2').entry))).toMatchObject({ changed: false, superseded: [] });
  });

  it('keeps a recorded URL only for the same deployment name', () => {
    const stored = { ...renderEntry({ space_id: 's', model_name: 'm', deployment_name: 'a', inputs: checkLocalInputs({ model_path: model, dependency_path: deps, kernel_filename: 'kernel.py', deployment_name: 'a' }), resource_configs: { enable_gpus: false }, monitors: { volume_display_name: 'v', dir_gt: 'g', dir_pred: 'p', most_recent: {}, thresholds: {} } }, 'k').entry };
    stored.wmla_deployment = { ...stored.wmla_deployment, deployment_url: 'http://edi/a' };
    const renamed = structuredClone(stored);
    renamed.wmla_deployment = { ...renamed.wmla_deployment, deployment_name: 'b', deployment_url: null };
    expect(withRecordedFields(renamed, stored).wmla_deployment.deployment_url).toBeNull();
    const same = structuredClone(stored);
    same.wmla_deployment = { ...same.wmla_deployment, deployment_url: null };
    expect(withRecordedFields(same, stored).wmla_deployment.deployment_url).toBe('http://edi/a');
  });

  it('reads a local metadata file only in plan mode', () => {
    const assets = {} as DataAssets;
    expect(() => openDeploymentMetadata(assets, { metadataFile: join(tmp, 'x.yml'), plan: false })).toThrow(/only for plan mode/);
    expect(openDeploymentMetadata(assets, { metadataFile: join(tmp, 'x.yml'), plan: true }).store).toBeInstanceOf(FileMetadataStore);
  });
});

describe('thresholds', () => {
  it('start from the built-in definitions and apply overrides', async () => {
    const [seg, gen] = await resolveMonitorThresholds(undefined, ['segmentation_metrics', 'generic_metrics'], { generic_metrics: { num_images_total_predicted: 10 } });
    expect(seg!.source).toBe('built-in');
    expect(Object.keys(seg!.thresholds)).toEqual(SEGMENTATION_MONITOR.metrics.map((m) => m.name));
    expect(gen!.thresholds.num_images_total_predicted).toEqual({ threshold: [10, 'lower'] });
    expect(gen!.overridden).toEqual(['num_images_total_predicted']);
    expect(gen!.defaults.num_images_total_predicted).toEqual({ threshold: [GENERIC_MONITOR.metrics[1]!.defaultThreshold.value, 'lower'] });
    expect(seg!.findings).toEqual([]);
  });

  it('reject a unit mistake unless allowed, naming the metric and the likely value', async () => {
    const list = await resolveMonitorThresholds(undefined, ['segmentation_metrics'], { segmentation_metrics: { precision_positive: 60 } });
    expect(() => assertThresholdsUsable(list)).toThrow(/segmentation_metrics\.precision_positive: .*did you mean 0\.6\?.*allow_threshold_warnings/);
    expect(() => assertThresholdsUsable(list, { allowWarnings: true })).not.toThrow();
    const out = await resolveMonitorThresholds(undefined, ['segmentation_metrics'], { segmentation_metrics: { Dice: 250 } });
    expect(() => assertThresholdsUsable(out, { allowWarnings: true })).toThrow(/Dice is a percentage \(0–100\): 250 is out of range/);
  });

  it('reject unknown metrics and overrides of monitors the deployment does not use', async () => {
    await expect(resolveMonitorThresholds(undefined, ['segmentation_metrics'], { segmentation_metrics: { dice: 20 } })).rejects.toThrow(/unknown metric "dice" \(did you mean "Dice"\?\)/);
    await expect(resolveMonitorThresholds(undefined, ['segmentation_metrics'], { generic_metrics: { num_images_total_predicted: 1 } })).rejects.toThrow(/does not use: generic_metrics/);
    await expect(resolveMonitorThresholds(undefined, ['drift'], {})).rejects.toThrow(/monitor drift: no such monitor definition/);
  });
});

describe('demo data', () => {
  it('draws the same tile every time, its truth in DeepLIIF colours', () => {
    const a = generateTile(3);
    expect(generateTile(3).image.equals(a.image)).toBe(true);
    expect(generateTile(4).image.equals(a.image)).toBe(false);
    expect(a.name).toBe('demo-tile-004');
    const truth = PNG.sync.read(a.groundTruth);
    const colours = new Set<string>();
    for (let i = 0; i < truth.width * truth.height; i++) colours.add(`${truth.data[i * 4]},${truth.data[i * 4 + 1]},${truth.data[i * 4 + 2]}`);
    expect([...colours].sort()).toEqual(['0,0,0', '0,0,255', '255,0,0'].filter((c) => colours.has(c)).sort());
    expect(colours.has('255,0,0') || colours.has('0,0,255')).toBe(true);
    expect(a.cells.positive + a.cells.negative).toBeGreaterThanOrEqual(5);
  });

  it('a luminance threshold gets most of a tile right but not all, as a model would', async () => {
    const tile = generateTile(0);
    const img = PNG.sync.read(tile.image);
    const above = (t: number) => {
      const m = new Uint8Array(img.width * img.height);
      for (let i = 0; i < m.length; i++) m[i] = 0.299 * img.data[i * 4]! + 0.587 * img.data[i * 4 + 1]! + 0.114 * img.data[i * 4 + 2]! >= t ? 1 : 0;
      return m;
    };
    const dir = join(tmp, 'tile-0');
    mkdirSync(join(dir, 'gt'), { recursive: true });
    mkdirSync(join(dir, 'pred'), { recursive: true });
    writeFileSync(join(dir, 'gt', `${tile.name}.png`), tile.groundTruth);
    writeFileSync(join(dir, 'pred', `${tile.name}_SegRefined.png`), predictionPng(above(172), above(78), img.width, img.height));
    const r = await evaluateFolders({ groundTruth: join(dir, 'gt'), prediction: join(dir, 'pred') }, { minPairs: 1 });
    const m = imageMetrics(r.segmentation.images[0]!.counts);
    expect(m.positive.Dice).toBeGreaterThan(0.8);
    expect(m.positive.Dice).toBeLessThan(1);
    expect(m.negative.Dice).toBeGreaterThan(0.5);
    expect(m.negative.Dice).toBeLessThan(1);
  });

  it('one location per distinct volume folder pair', () => {
    const cfg = { volume_display_name: 'v', dir_gt: 'g', dir_pred: 'p' };
    expect(monitorLocations({ a: cfg, b: { ...cfg }, c: { ...cfg, dir_pred: 'q' } })).toEqual([
      { volume: 'v', dirGt: 'g', dirPred: 'p' },
      { volume: 'v', dirGt: 'g', dirPred: 'q' },
    ]);
  });

  it('the committed sample masks give B1 its metrics', async () => {
    const r = await evaluateFolders({ groundTruth: join(ROOT, 'examples/masks/gt'), prediction: join(ROOT, 'examples/masks/pred') }, { minPairs: 3, overrides: { segmentation_metrics: { Dice: 20 } } });
    expect(r.segmentation.selection.pairs).toBe(4);
    const dice = r.rows.find((x) => x.metric === 'Dice')!;
    expect(dice).toMatchObject({ monitor: 'segmentation_metrics', unit: 'percent', limit: 20, direction: 'lower' });
    expect(dice.value).toBeGreaterThan(50);
    // 4 images are fewer than the generic monitor's default minimum of 5 ground truths.
    expect(r.rows.find((x) => x.metric === 'num_images_total_ground_truth')).toMatchObject({ value: 4, limit: 5, breach: 'below lower limit' });
    expect(r.breaches).toBe(r.rows.filter((x) => x.breach).length);
  });
});

describe('reports', () => {
  it('checkpoints are found again in output text', () => {
    const text = ['noise', checkpoint('A2.1', 'entry x: y'), `  A2 │ ${checkpoint('A2.2', 'started')}`, '✔A.0 no space'].join('\n');
    expect(findCheckpoints(text)).toEqual([{ step: 'A2.1', text: 'entry x: y' }]);
    expect(findCheckpoints(text.split('\n').map((l) => l.replace(/^ {2}A2 │ /, '')).join('\n'))).toEqual([
      { step: 'A2.1', text: 'entry x: y' },
      { step: 'A2.2', text: 'started' },
    ]);
  });

  it('tables align text left and numbers right', () => {
    expect(textTable(['name', 'n'], [['a', 1], ['bbb', 22.5]])).toBe('name     n\n----  ----\na        1\nbbb   22.5');
  });

  const status: SubscriptionStatus = {
    subscriptionId: 'sub-1',
    breaches: 1,
    failedRuns: 0,
    monitors: [
      {
        instanceId: 'mi-1',
        monitorDefinitionId: 'generic_metrics',
        monitorName: 'Generic Metrics',
        instanceState: 'active',
        lastRun: { id: 'run-1', state: 'finished', completedAt: '2024-06-01T10:00:00Z' },
        measurement: {
          id: 'me-1',
          timestamp: '2024-06-01T10:00:00Z',
          issueCount: 1,
          metrics: [
            { id: 'a', name: 'num_images_total_predicted', value: 3, lowerLimit: 40, breach: 'below lower limit' },
            { id: 'b', name: 'num_images_total_ground_truth', value: 12, lowerLimit: 5 },
          ],
        },
        breaches: 1,
      },
    ],
  };

  it('status marks breaches in text and HTML', () => {
    const text = statusText(status);
    expect(text).toMatch(/num_images_total_predicted\s+3\s+40\s+BREACH \(below lower limit\)/);
    expect(text).toMatch(/num_images_total_ground_truth\s+12\s+5\s+ok/);
    expect(text.split('\n').slice(0, 5)).toEqual([
      'Subscription sub-1: 1 monitor, 1 breach, 0 failed runs',
      '',
      'generic_metrics (Generic Metrics): instance mi-1, active',
      '  last run run-1: finished at 2024-06-01T10:00:00Z',
      '  measurement 2024-06-01T10:00:00Z: 1 issue',
    ]);
    // A run still queued shows when it was queued; a failed one its error; a measurement its run.
    const queued = structuredClone(status) as { -readonly [K in keyof SubscriptionStatus]: any };
    queued.monitors[0].lastRun = { id: 'run-2', state: 'queued', queuedAt: '2024-06-02T08:00:00Z' };
    queued.monitors[0].measurement.runId = 'run-1';
    expect(statusText(queued)).toContain('  last run run-2: queued (queued 2024-06-02T08:00:00Z)\n  measurement 2024-06-01T10:00:00Z (run run-1): 1 issue');
    queued.monitors[0].lastRun = { id: 'run-3', state: 'error', error: 'volume not found' };
    queued.failedRuns = 1;
    expect(statusText(queued)).toMatch(/^Subscription sub-1: 1 monitor, 1 breach, 1 failed run\n[^]*  last run run-3: error: volume not found\n/);
    expect(statusText({ subscriptionId: 's', monitors: [], breaches: 0, failedRuns: 0 })).toBe('Subscription s: 0 monitors, 0 breaches, 0 failed runs\n  no monitor instances');
    const html = statusHtml(status);
    expect(html).toMatch(/<tr style="background:#fde0dc[^"]*"><td>num_images_total_predicted<\/td>/);
    expect(html).toMatch(/<tr style=""><td>num_images_total_ground_truth<\/td>/);
  });

  it('history: one chart panel per metric, rendered to SVG by Vega, with table fallbacks', async () => {
    const measurement = (time: string, value: number) => ({
      metadata: { id: `m-${time}` },
      entity: { timestamp: time, run_id: `r-${time}`, issue_count: value < 5 ? 1 : 0, values: [{ metrics: [{ id: 'num_images_total_ground_truth', value, lower_limit: 5 }], tags: [] }] },
    });
    const points = historyPoints('generic_metrics', [measurement('2024-06-02T00:00:00Z', 12), measurement('2024-06-01T00:00:00Z', 3)] as never);
    expect(points.map((p) => [p.time, p.value, p.status])).toEqual([
      ['2024-06-01T00:00:00Z', 3, 'breach'],
      ['2024-06-02T00:00:00Z', 12, 'ok'],
    ]);
    const spec = historyChartSpec(points);
    expect((spec.facet as { sort: string[] }).sort).toEqual(['generic_metrics · num_images_total_ground_truth']);
    const bundle = await historyChart(points, { title: 'T' });
    expect(Object.keys(bundle).sort()).toEqual(['application/vnd.vegalite.v5+json', 'image/svg+xml', 'text/html', 'text/plain']);
    const svg = bundle['image/svg+xml'] as string;
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('num_images_total_ground_truth');
    expect(bundle['text/plain']).toMatch(/generic_metrics\s+num_images_total_ground_truth\s+2\s+12\s+3\s+12\s+5\s+1/);
    expect(await historyChart([])).toEqual({ 'text/plain': 'no measurements in this time range', 'text/html': '<p>no measurements in this time range</p>' });
  });

  it('child runs: prefixed live output, an outcome line, an error for a failure', () => {
    const lines: string[] = [];
    const print = childOutputPrinter('A2_WMLA_Model_Deploy', (l) => lines.push(l));
    print({ type: 'cell-output', stream: 'stdout', text: 'one\ntwo\n' });
    print({ type: 'cell-end', status: 'ok', ordinal: 1, total: 2 });
    print({ type: 'cell-end', status: 'failed', ordinal: 2, total: 2 });
    expect(lines).toEqual(['  A2 │ one', '  A2 │ two', '  A2 │ cell 2/2 failed']);
    expect(childRunLine('A2_WMLA_Model_Deploy', { status: 'ok', exitCode: 0, outputPath: '/o/A2.ipynb', durationMs: 1500 })).toBe('✔ A.4 A2_WMLA_Model_Deploy ok in 1.5 s → /o/A2.ipynb');
    const failed = { status: 'cell-error', exitCode: 3, outputPath: '/o/A2.ipynb', failure: { message: 'cell 4: boom' } };
    expect(childRunLine('A2', failed)).toMatch(/^✖ A\.4 A2 cell-error → \/o\/A2\.ipynb \(exit 3\): cell 4: boom$/);
    expect(() => assertChildSucceeded('A2', failed)).toThrow(/A2 failed \(cell-error, exit 3\): cell 4: boom\. The executed notebook, with the failing cell marked, is \/o\/A2\.ipynb/);
  });
});
