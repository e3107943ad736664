import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProfileClients } from '../../src/lib/config';
import { FileMetadataStore, deploymentMetadata, deploymentMetadataCodec, type DeploymentEntryInput } from '../../src/lib/metadata';
import { GENERIC_MONITOR, SEGMENTATION_MONITOR } from '../../src/lib/monitors/definitions';
import {
  ensureHeadlessServiceProvider,
  ensureMonitorInstance,
  ensureSubscription,
  getMonitorInstance,
  latestMeasurement,
  measurementHistory,
  monitorStatus,
  runFailureMessage,
  startRun,
  subscriptionNameFor,
  waitForRun,
} from '../../src/lib/openscale';
import { BearerVerifier, fileConfigSource, openscaleTokenCheck, providerContext, registerProvider, type RunOutcome } from '../../src/lib/provider';
import { uploadToVolume } from '../../src/lib/volumes';
import { startProviderServer, type RunningProvider } from '../../src/provider/server';
import { demoToken, type TestSandbox } from '../sandbox/helpers';
import { ageFile, maskPng, SANDBOX_DEFAULT_VOLUME as VOL, sandboxClients, startFastSandbox, volumeFolder, writeFile } from './helpers';

const WAIT = { timeoutMs: 30_000, pollMs: 25 };

// ---- An independent statement of DeepLIIF's per-class rule (deepliif-metrics.md §1) ----------------
type Counts = { tp: number; fp: number; fn: number; tn: number };
const BASES = ['precision', 'recall', 'f1', 'Dice', 'IOU', 'PixAcc'] as const;

function classMetrics(c: Counts): Record<(typeof BASES)[number], number> {
  if (c.tp === 0) {
    const v = c.fn > 0 || c.fp > 0 ? 0 : 1;
    return { precision: v, recall: v, f1: v, Dice: v, IOU: v, PixAcc: v };
  }
  const p = c.tp / (c.tp + c.fp);
  const r = c.tp / (c.tp + c.fn);
  return { precision: p, recall: r, f1: (2 * p * r) / (p + r), Dice: (2 * c.tp) / (2 * c.tp + c.fp + c.fn), IOU: c.tp / (c.tp + c.fp + c.fn), PixAcc: (c.tp + c.tn) / (c.tp + c.fp + c.fn + c.tn) };
}

/** Per-class confusion counts of two coarse grids (each cell = scale² pixels). */
function counts(pred: readonly string[], gt: readonly string[], cls: 'r' | 'b', scale: number): Counts {
  const has = (ch: string) => ch === cls || ch === 'm';
  const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
  pred.forEach((row, y) => [...row].forEach((ch, x) => {
    const p = has(ch);
    const g = has(gt[y]![x]!);
    if (p && g) c.tp++;
    else if (p) c.fp++;
    else if (g) c.fn++;
    else c.tn++;
  }));
  const k = scale * scale;
  return { tp: c.tp * k, fp: c.fp * k, fn: c.fn * k, tn: c.tn * k };
}

function expectedSegmentation(images: readonly { pred: string[]; gt: string[] }[], scale: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of BASES) {
    let pos = 0;
    let neg = 0;
    for (const im of images) {
      pos += classMetrics(counts(im.pred, im.gt, 'r', scale))[b];
      neg += classMetrics(counts(im.pred, im.gt, 'b', scale))[b];
    }
    out[`${b}_positive`] = pos / images.length;
    out[`${b}_negative`] = neg / images.length;
    out[b] = images.reduce((s, im) => s + (classMetrics(counts(im.pred, im.gt, 'r', scale))[b] * 100 + classMetrics(counts(im.pred, im.gt, 'b', scale))[b] * 100) / 2, 0) / images.length;
  }
  return out;
}

// deepliif-metrics.md §2: image A positive = 4×4 partial overlap, negative = both empty;
// image B positive = perfect, negative = FN only. Scaled ×128 to DeepLIIF's 512×512.
const A = { pred: ['rr..', 'rr..', '....', '....'], gt: ['r...', 'r...', 'r...', '....'] };
const B = { pred: ['....', '....', '....', '..rr'], gt: ['b...', '....', '....', '..rr'] };
const C = { pred: ['mmmm', '....', '....', '....'], gt: ['....', '....', '....', 'mmmm'] };
const SCALE = 128;

describe('custom metrics provider end to end (sandbox OpenScale, real HTTP, real PNGs)', () => {
  let sb: TestSandbox;
  let clients: ProfileClients;
  let provider: RunningProvider;
  const outcomes: RunOutcome[] = [];
  const local = mkdtempSync(join(tmpdir(), 'provider-e2e-'));
  const metadataFile = join(local, 'deployment_metadata.yml');
  const providerTemp = join(local, 'provider-tmp');
  let subscriptionId: string;
  let integratedSystemId: string;
  const meta = deploymentMetadata(new FileMetadataStore(metadataFile, deploymentMetadataCodec));

  /** The provider's reply to a run (it answers after reporting the run status, which ends the run). */
  async function replyTo(runId: string): Promise<RunOutcome> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const o = outcomes.find((x) => x.runId === runId);
      if (o) return o;
      if (Date.now() > deadline) throw new Error(`no reply for run ${runId}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  function entry(subscription: string, monitors: DeploymentEntryInput['openscale_custom_metric_provider']): DeploymentEntryInput {
    return {
      model_asset: 'deepliif-model.zip',
      deployment_space_id: 'space-1',
      openscale_subscription_id: subscription,
      openscale_custom_metric_provider: monitors,
      wmla_deployment: { deployment_name: 'deepliif', deployment_url: null, dependency_filename: 'deps.zip', resource_configs: { enable_gpus: false } },
    };
  }

  beforeAll(async () => {
    sb = await startFastSandbox();
    clients = await sandboxClients(sb);
    writeFile(join(providerTemp, '.keep'), '');
    provider = await startProviderServer({
      context: providerContext(clients, { configSource: fileConfigSource(metadataFile), tempRoot: providerTemp }),
      verifier: new BearerVerifier({ check: openscaleTokenCheck(clients.openscale.baseUrl), redactor: clients.profile.redactor }),
      onRun: (o) => outcomes.push(o),
    });
    const registration = await registerProvider(clients, { endpointUrl: provider.endpoint });
    integratedSystemId = registration.integratedSystem.id;
    const sp = await ensureHeadlessServiceProvider(clients.openscale, { wait: WAIT });
    subscriptionId = (await ensureSubscription(clients.openscale, { name: subscriptionNameFor('deepliif'), serviceProviderId: sp.id, wait: WAIT })).id;
  });
  afterAll(async () => {
    await provider.close();
    clients.close();
    await sb.close();
    rmSync(local, { recursive: true, force: true });
  });

  it('registers one integrated system and both definitions, idempotently', async () => {
    const again = await registerProvider(clients, { endpointUrl: provider.endpoint });
    expect(again.integratedSystem).toMatchObject({ id: integratedSystemId, outcome: 'existing' });
    expect(again.monitors.map((m) => [m.definition.id, m.definition.outcome])).toEqual([
      ['segmentation_metrics', 'existing'],
      ['generic_metrics', 'existing'],
    ]);
    expect(again.monitorMetadata).toEqual({
      segmentation_metrics: { integrated_system_id: integratedSystemId, provider_endpoint: provider.endpoint, monitor_name: 'Segmentation Metrics' },
      generic_metrics: { integrated_system_id: integratedSystemId, provider_endpoint: provider.endpoint, monitor_name: 'Generic Metrics' },
    });
  });

  it('completes a segmentation run: values of an independent computation, the instance limits and issue_count', async () => {
    const src = join(local, 'seg');
    for (const [name, im] of Object.entries({ a: A, b: B, c: C })) {
      writeFile(join(src, 'gt', `${name}.png`), maskPng(im.gt, SCALE));
      writeFile(join(src, 'pred', `${name}_SegRefined.png`), maskPng(im.pred, SCALE));
    }
    writeFile(join(src, 'gt', 'unpaired.png'), maskPng(['....'], SCALE));
    await uploadToVolume(clients.cpd, VOL, src, 'eval/seg');
    // c is older than the two-day window: it must not count.
    ageFile(join(volumeFolder(sb), 'eval/seg/pred/c_SegRefined.png'), 10);
    ageFile(join(volumeFolder(sb), 'eval/seg/gt/c.png'), 10);
    await meta.add('model-1', entry(subscriptionId, {
      segmentation_metrics: { dir_gt: 'eval/seg/gt', dir_pred: 'eval/seg/pred', volume_display_name: VOL, most_recent: 2, parameters: { min_pairs: 2 } },
    }));

    const overrides = { precision: 70, precision_negative: 0.6, Dice: 20 };
    const mi = await ensureMonitorInstance(
      clients.openscale,
      { monitorDefinitionId: 'segmentation_metrics', subscriptionId, integratedSystemId, waitTimeSeconds: 60, thresholds: overrides, parameters: { note: 'kept' } },
      { wait: WAIT },
    );
    const run = await startRun(clients.openscale, mi.id);
    const done = await waitForRun(clients.openscale, mi.id, run.id, WAIT);
    expect(runFailureMessage(done)).toBeUndefined();
    expect(done.entity.status.state).toBe('finished');

    const expected = expectedSegmentation([A, B], SCALE);
    // The documented worked vectors (deepliif-metrics.md §2).
    expect(expected.precision_positive).toBeCloseTo(0.75, 12);
    expect(expected.precision_negative).toBeCloseTo(0.5, 12);
    expect(expected.precision).toBeCloseTo(62.5, 12);
    expect(expected.Dice_positive).toBeCloseTo(0.7857142857, 9);
    expect(expected.Dice).toBeCloseTo(64.2857142857, 9);

    const m = (await latestMeasurement(clients.openscale, subscriptionId, 'segmentation_metrics'))!;
    expect(m.entity.run_id).toBe(run.id);
    const got = m.entity.values[0]!.metrics;
    expect(got).toHaveLength(18);
    const limits: Record<string, number> = {};
    for (const spec of SEGMENTATION_MONITOR.metrics) limits[spec.name] = (overrides as Record<string, number>)[spec.name] ?? spec.defaultThreshold.value;
    let breaches = 0;
    for (const spec of SEGMENTATION_MONITOR.metrics) {
      const metric = got.find((x) => x.id === spec.name.toLowerCase())!;
      expect(metric.value).toBeCloseTo(expected[spec.name]!, 10);
      expect(metric.lower_limit).toBe(limits[spec.name]);
      expect(metric.upper_limit).toBeUndefined();
      if (expected[spec.name]! < limits[spec.name]!) breaches++;
    }
    expect(breaches).toBeGreaterThanOrEqual(2); // precision and precision_negative at least
    expect(m.entity.issue_count).toBe(breaches);

    const status = await monitorStatus(clients.openscale, subscriptionId);
    expect(status.breaches).toBe(breaches);
    expect(status.monitors[0]!.measurement!.metrics.find((x) => x.name === 'precision')).toMatchObject({ value: 62.5, lowerLimit: 70, breach: 'below lower limit' });

    // The legacy protocol's run_details went into the parameters, which kept everything else.
    const outcome = await replyTo(run.id);
    const after = await getMonitorInstance(clients.openscale, mi.id);
    expect(after.entity.parameters).toMatchObject({ note: 'kept', custom_metrics_provider_id: integratedSystemId, custom_metrics_wait_time: 60, run_details: { run_id: run.id, run_status: 'finished' } });
    expect(outcome).toMatchObject({ status: 200, state: 'finished', reports: { runsApi: 'ok', instanceParameters: 'ok' } });
    expect(outcome.body.predictions![0]!.values).toHaveLength(1);
    expect(outcome.details).toMatchObject({ pairs: 2, predictions: 3, notRecent: 1, window: { mostRecentDays: 2 } });
    expect(readdirSync(providerTemp)).toEqual(['.keep']); // the run's temp dir is gone
  });

  it('fails the run with the problem named: too few pairs, a corrupt PNG, no metadata entry', async () => {
    const sp = await ensureHeadlessServiceProvider(clients.openscale, { wait: WAIT });
    const sub = (await ensureSubscription(clients.openscale, { name: subscriptionNameFor('failing'), serviceProviderId: sp.id, wait: WAIT })).id;
    const mi = await ensureMonitorInstance(clients.openscale, { monitorDefinitionId: 'segmentation_metrics', subscriptionId: sub, integratedSystemId, waitTimeSeconds: 60 }, { wait: WAIT });
    const src = join(local, 'fail');
    writeFile(join(src, 'gt', 'a.png'), maskPng(A.gt, 8));
    writeFile(join(src, 'pred', 'a_SegRefined.png'), maskPng(A.pred, 8));
    await uploadToVolume(clients.cpd, VOL, src, 'eval/fail');
    const monitors = { segmentation_metrics: { dir_gt: 'eval/fail/gt', dir_pred: 'eval/fail/pred', volume_display_name: VOL, most_recent: 3 } };

    // No deployment names the subscription yet.
    let run = await startRun(clients.openscale, mi.id);
    let ended = await waitForRun(clients.openscale, mi.id, run.id, WAIT);
    expect(ended.entity.status.state).toBe('error');
    expect(runFailureMessage(ended)).toContain(`no deployment in file ${metadataFile} has openscale_subscription_id ${sub}`);

    await meta.add('model-2', entry(sub, monitors));
    run = await startRun(clients.openscale, mi.id);
    ended = await waitForRun(clients.openscale, mi.id, run.id, WAIT);
    expect(ended.entity.status.state).toBe('error');
    expect(runFailureMessage(ended)).toMatch(/a segmentation run needs at least 3 recent prediction\/ground-truth pairs .*; found 1/);

    for (const name of ['b', 'c']) {
      writeFile(join(volumeFolder(sb), 'eval/fail/gt', `${name}.png`), maskPng(B.gt, 8));
      writeFile(join(volumeFolder(sb), 'eval/fail/pred', `${name}_SegRefined.png`), maskPng(B.pred, 8));
    }
    const good = maskPng(B.pred, 8);
    writeFileSync(join(volumeFolder(sb), 'eval/fail/pred/c_SegRefined.png'), Buffer.concat([good.subarray(0, 40), Buffer.alloc(30, 0x41), good.subarray(70)]));
    run = await startRun(clients.openscale, mi.id);
    ended = await waitForRun(clients.openscale, mi.id, run.id, WAIT);
    expect(ended.entity.status.state).toBe('error');
    expect(runFailureMessage(ended)).toContain(`${VOL}:eval/fail/pred/c_SegRefined.png`);
    expect(runFailureMessage(ended)).toMatch(/corrupt PNG|not a PNG/);

    // A failed run publishes nothing and says why in run_details too (written after the runs API,
    // so wait for the provider's reply).
    const outcome = await replyTo(run.id);
    expect(outcome.body).toMatchObject({ predictions: [], error_msg: [expect.stringContaining('c_SegRefined.png')] });
    expect(await latestMeasurement(clients.openscale, sub, 'segmentation_metrics')).toBeUndefined();
    const params = (await getMonitorInstance(clients.openscale, mi.id)).entity.parameters!;
    expect(params.run_details).toMatchObject({ run_id: run.id, run_status: 'error', run_error_msg: expect.stringContaining('c_SegRefined.png') });
  });

  it('counts images for generic_metrics with the recent window from the volume mtimes, concurrently with a segmentation run', async () => {
    const gen = join(volumeFolder(sb), 'eval/gen');
    for (const f of ['gt/g1.png', 'gt/g2.png', 'gt/g3.png', 'gt/sub/g4.PNG', 'pred/p1.png', 'pred/p2.png', 'pred/p3.png', 'pred/p4.png', 'pred/p5.png']) writeFile(join(gen, f), maskPng(['r'], 1));
    writeFile(join(gen, 'gt/notes.json'), '{}');
    writeFile(join(gen, 'pred/x.json'), '{}');
    ageFile(join(gen, 'gt/g3.png'), 5);
    ageFile(join(gen, 'pred/p4.png'), 3);
    ageFile(join(gen, 'pred/p5.png'), 1.5);
    await meta.update('model-1', {
      openscale_custom_metric_provider: { generic_metrics: { dir_gt: 'eval/gen/gt', dir_pred: 'eval/gen/pred', volume_display_name: VOL, most_recent: 1 } },
    });
    const generic = await ensureMonitorInstance(
      clients.openscale,
      { monitorDefinitionId: 'generic_metrics', subscriptionId, integratedSystemId, waitTimeSeconds: 60, thresholds: { num_images_total_ground_truth: 3, num_images_recent_predicted: 2 } },
      { wait: WAIT },
    );
    const segmentation = (await ensureMonitorInstance(clients.openscale, { monitorDefinitionId: 'segmentation_metrics', subscriptionId, integratedSystemId, waitTimeSeconds: 60, thresholds: { precision: 70, precision_negative: 0.6, Dice: 20 }, parameters: { note: 'kept' } }, { wait: WAIT })).id;
    const from = new Date();
    const [r1, r2] = await Promise.all([startRun(clients.openscale, generic.id), startRun(clients.openscale, segmentation)]);
    const [e1, e2] = await Promise.all([waitForRun(clients.openscale, generic.id, r1.id, WAIT), waitForRun(clients.openscale, segmentation, r2.id, WAIT)]);
    expect([e1.entity.status.state, e2.entity.status.state]).toEqual(['finished', 'finished']);

    const m = (await measurementHistory(clients.openscale, generic.id, { start: from, end: new Date(Date.now() + 60_000) }))[0]!;
    const values = Object.fromEntries(m.entity.values[0]!.metrics.map((x) => [x.id, [x.value, x.lower_limit]]));
    expect(values).toEqual({
      num_images_total_ground_truth: [4, 3],
      num_images_total_predicted: [5, GENERIC_MONITOR.metrics[1]!.defaultThreshold.value],
      num_images_recent_ground_truth: [3, 5],
      num_images_recent_predicted: [3, 2],
    });
    expect(m.entity.issue_count).toBe(2);
    const status = await monitorStatus(clients.openscale, subscriptionId);
    expect(status.monitors.map((x) => [x.monitorDefinitionId, x.lastRun!.state, x.breaches > 0])).toEqual([
      ['generic_metrics', 'finished', true],
      ['segmentation_metrics', 'finished', true],
    ]);
  });

  it('refuses calls without a valid CPD bearer token', async () => {
    const call = (authorization?: string) =>
      fetch(provider.endpoint, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: '{"input_data":[]}' });
    const none = await call();
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error_msg: string[] }).error_msg[0]).toContain('missing Authorization header');
    expect((await call('Basic YWRtaW46eA==')).status).toBe(401);
    expect((await call('Bearer not-a-real-token')).status).toBe(401);
    const ok = await call(`Bearer ${await demoToken(sb.url)}`);
    expect(ok.status).toBe(400);
    expect(((await ok.json()) as { error_msg: string[] }).error_msg[0]).toContain('not a custom metrics provider request');
    expect((await fetch(`${provider.url}/health`)).status).toBe(200);
    expect((await fetch(`${provider.url}/other`, { method: 'POST' })).status).toBe(404);
  });
});
