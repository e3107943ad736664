import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProfileClients } from '../../src/lib/config';
import { FileMetadataStore, SpaceMetadataStore, deploymentMetadata, deploymentMetadataCodec } from '../../src/lib/metadata';
import { createWmlClient } from '../../src/lib/wml';
import { ensureHeadlessServiceProvider, ensureMonitorInstance, ensureSubscription, runFailureMessage, startRun, waitForRun } from '../../src/lib/openscale';
import {
  BearerVerifier,
  computeMonitorMetrics,
  deploymentMetadataConfigSource,
  fileConfigSource,
  handleRunRequest,
  monitorKindFor,
  openscaleTokenCheck,
  providerContext,
  registerProvider,
  type RunOutcome,
} from '../../src/lib/provider';
import { startProviderServer, type RunningProvider } from '../../src/provider/server';
import { demoToken, type TestSandbox } from '../sandbox/helpers';
import { SANDBOX_DEFAULT_VOLUME as VOL, maskPng, sandboxClients, startFastSandbox, volumeFolder, writeFile } from './helpers';

function jwt(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256' })}.${b64(claims)}.c2lnbmF0dXJl`;
}

describe('monitor kinds', () => {
  it('picks the computation from the monitor id sent by OpenScale (prefixes, exact ids first)', () => {
    expect(monitorKindFor('segmentation_metrics')).toBe('segmentation');
    expect(monitorKindFor('segmentation_metrics_v22')).toBe('segmentation');
    expect(monitorKindFor('generic_metrics_v5')).toBe('generic');
    expect(() => monitorKindFor('drift')).toThrow(/no metric computation for monitor id "drift": this provider computes segmentation_metrics\*, generic_metrics\*/);
    expect(monitorKindFor('my_counts', { exact: { my_counts: 'generic' } })).toBe('generic');
    expect(monitorKindFor('generic_metrics_special', { exact: { generic_metrics_special: 'segmentation' }, prefixes: { generic_metrics: 'generic' } })).toBe('segmentation');
  });
});

describe('bearer verifier', () => {
  it('checks each token once, caches both verdicts for their time, and refuses what is not a bearer token', async () => {
    let now = 1_000_000_000_000;
    const calls: string[] = [];
    const verifier = new BearerVerifier({
      now: () => now,
      check: async (token) => {
        calls.push(token);
        return token.startsWith('good') || token.split('.').length === 3 ? 'valid' : 'invalid';
      },
    });
    expect(await verifier.verify(undefined)).toMatchObject({ ok: false, status: 401 });
    expect(await verifier.verify('Basic abc')).toMatchObject({ ok: false, status: 401, reason: expect.stringContaining('Bearer') });
    const [a, b] = await Promise.all([verifier.verify('Bearer good-1'), verifier.verify('Bearer good-1')]);
    expect(a.ok && b.ok).toBe(true);
    expect(calls).toEqual(['good-1']);
    expect((await verifier.verify('Bearer bad-1')).ok).toBe(false);
    expect((await verifier.verify('Bearer bad-1')).ok).toBe(false);
    expect(calls).toEqual(['good-1', 'bad-1']);
    now += 31_000; // past the rejection cache, within the acceptance cache
    await verifier.verify('Bearer bad-1');
    await verifier.verify('Bearer good-1');
    expect(calls).toEqual(['good-1', 'bad-1', 'bad-1']);
    now += 10 * 60_000; // accepted tokens are checked again after 10 minutes
    await verifier.verify('Bearer good-1');
    expect(calls.filter((c) => c === 'good-1')).toHaveLength(2);

    // A JWT is trusted no longer than it lives, and an expired one is refused without asking.
    const s = Math.floor(now / 1000);
    const shortLived = jwt({ username: 'admin', exp: s + 5, iat: s });
    expect(await verifier.verify(`Bearer ${shortLived}`)).toEqual({ ok: true, subject: 'admin' });
    now += 6000;
    const before = calls.length;
    expect(await verifier.verify(`Bearer ${shortLived}`)).toMatchObject({ ok: false, status: 401 });
    expect(calls.length).toBe(before);
  });

  it('answers 503 when the token cannot be checked, and asks again next time', async () => {
    let fail = true;
    const verifier = new BearerVerifier({ check: async () => (fail ? Promise.reject(new Error('connect ECONNREFUSED')) : 'valid') });
    expect(await verifier.verify('Bearer t-1234')).toEqual({ ok: false, status: 503, reason: 'the token could not be checked now: connect ECONNREFUSED' });
    fail = false;
    expect((await verifier.verify('Bearer t-1234')).ok).toBe(true);
  });
});

describe('provider parts against the sandbox', () => {
  let sb: TestSandbox;
  let clients: ProfileClients;
  const local = mkdtempSync(join(tmpdir(), 'provider-parts-'));
  const metadataFile = join(local, 'deployment_metadata.yml');

  beforeAll(async () => {
    // The sandbox waits 20× the nominal custom_metrics_wait_time, and volume listings are slow,
    // so that the provider's own time budget is what ends a run.
    sb = await startFastSandbox({ openscale: { waitTimeScale: 20 }, faults: [{ route: 'GET /zen-volumes/*/directories/slow*', latencyMs: 1500 }] });
    clients = await sandboxClients(sb);
  });
  afterAll(async () => {
    clients.close();
    await sb.close();
    rmSync(local, { recursive: true, force: true });
  });

  it('checks tokens against the real OpenScale of the profile', async () => {
    const check = openscaleTokenCheck(clients.openscale.baseUrl);
    expect(await check(await demoToken(sb.url))).toBe('valid');
    expect(await check(jwt({ username: 'admin', exp: Math.floor(Date.now() / 1000) + 60 }))).toBe('invalid');
    await expect(openscaleTokenCheck('http://127.0.0.1:9/openscale/x')('abc')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('reads monitor settings by subscription and monitor id, naming what is missing', async () => {
    const source = fileConfigSource(metadataFile);
    await expect(source.monitorConfig('sub-1', 'generic_metrics')).rejects.toThrow(/\(which does not exist\)/);
    const meta = deploymentMetadata(new FileMetadataStore(metadataFile, deploymentMetadataCodec));
    const entry = (sub: string) => ({
      model_asset: 'm.zip',
      deployment_space_id: 'space-1',
      openscale_subscription_id: sub,
      openscale_custom_metric_provider: { generic_metrics_v5: { dir_gt: 'g', dir_pred: 'p', volume_display_name: VOL, most_recent: 1, parameters: { typo_key: 1 } } },
      wmla_deployment: { deployment_name: 'd', deployment_url: null, dependency_filename: 'd.zip', resource_configs: { enable_gpus: false } },
    });
    await meta.add('m1', entry('sub-1'));
    expect(await source.monitorConfig('sub-1', 'generic_metrics_v5')).toMatchObject({ dir_gt: 'g', most_recent: 1 });
    await expect(source.monitorConfig('sub-1', 'generic_metrics')).rejects.toThrow(/deployment m1 in .* has no openscale_custom_metric_provider.generic_metrics \(it configures generic_metrics_v5\)/);
    await expect(source.monitorConfig('sub-2', 'generic_metrics_v5')).rejects.toThrow(/no deployment in .* has openscale_subscription_id sub-2/);
    await meta.add('m2', entry('sub-1'));
    await expect(source.monitorConfig('sub-1', 'generic_metrics_v5')).rejects.toThrow(/2 deployments in .* have openscale_subscription_id sub-1 \(m1, m2\)/);
    const config = { dir_gt: 'g', dir_pred: 'p', volume_display_name: VOL, most_recent: 1, parameters: { typo_key: 1 } };
    await expect(computeMonitorMetrics('generic', config, { cpd: clients.cpd })).rejects.toThrow(/parameters: Unrecognized key: "typo_key"|parameters.*typo_key/);
    await expect(computeMonitorMetrics('generic', { ...config, parameters: {} }, { cpd: clients.cpd })).rejects.toThrow(/folder sandbox-volume:g does not exist/);
  });

  it('reads monitor settings from deployment_metadata.yml in a deployment space', async () => {
    const wml = createWmlClient(clients, { settleMs: 20 });
    const { space } = await wml.ensureSpace('provider-settings');
    await deploymentMetadata(wml.assets(space.id), { settleMs: 20 }).add('model-s', {
      model_asset: 'm.zip',
      deployment_space_id: space.id,
      openscale_subscription_id: 'sub-space',
      openscale_custom_metric_provider: { segmentation_metrics_v22: { dir_gt: 'gt', dir_pred: 'pred', volume_display_name: VOL, most_recent: 5, parameters: { min_pairs: 4 } } },
      wmla_deployment: { deployment_name: 'd', deployment_url: null, dependency_filename: 'd.zip', resource_configs: { enable_gpus: false } },
    });
    const source = deploymentMetadataConfigSource(new SpaceMetadataStore(wml.assets(space.id), deploymentMetadataCodec, { settleMs: 20 }));
    expect(source.description).toContain('deployment_metadata.yml in');
    expect(await source.monitorConfig('sub-space', 'segmentation_metrics_v22')).toMatchObject({ most_recent: 5, parameters: { min_pairs: 4 } });
  });

  it('answers a malformed payload with 400 and names the missing fields', async () => {
    const ctx = providerContext(clients, { configSource: fileConfigSource(metadataFile) });
    const r = await handleRunRequest(ctx, { input_data: [{ values: { data_mart_id: 'x' } }] });
    expect(r.status).toBe(400);
    expect(r.state).toBe('rejected');
    expect(r.message).toMatch(/input_data\[0\]\.values\.subscription_id|input_data\.0\.values\.subscription_id/);
  });

  it('ends a run that would outlast custom_metrics_wait_time with an error saying so', async () => {
    let provider: RunningProvider | undefined;
    const outcomes: RunOutcome[] = [];
    try {
      const slowFile = join(local, 'slow.yml');
      provider = await startProviderServer({
        context: providerContext(clients, { configSource: fileConfigSource(slowFile) }),
        verifier: new BearerVerifier({ check: openscaleTokenCheck(clients.openscale.baseUrl) }),
        onRun: (o) => outcomes.push(o),
      });
      const reg = await registerProvider(clients, { endpointUrl: provider.endpoint, name: 'Slow Provider' });
      const sp = await ensureHeadlessServiceProvider(clients.openscale, { wait: { pollMs: 20 } });
      const sub = await ensureSubscription(clients.openscale, { name: 'slow Monitor', serviceProviderId: sp.id, wait: { pollMs: 20 } });
      writeFile(join(volumeFolder(sb), 'slow/gt/a.png'), maskPng(['r'], 1));
      writeFile(join(volumeFolder(sb), 'slow/pred/a.png'), maskPng(['r'], 1));
      await deploymentMetadata(new FileMetadataStore(slowFile, deploymentMetadataCodec)).add('m', {
        model_asset: 'm.zip',
        deployment_space_id: 'space-1',
        openscale_subscription_id: sub.id,
        openscale_custom_metric_provider: { generic_metrics: { dir_gt: 'slow/gt', dir_pred: 'slow/pred', volume_display_name: VOL, most_recent: 1 } },
        wmla_deployment: { deployment_name: 'd', deployment_url: null, dependency_filename: 'd.zip', resource_configs: { enable_gpus: false } },
      });
      const mi = await ensureMonitorInstance(clients.openscale, { monitorDefinitionId: 'generic_metrics', subscriptionId: sub.id, integratedSystemId: reg.integratedSystem.id, waitTimeSeconds: 1 }, { wait: { pollMs: 20 } });
      const run = await startRun(clients.openscale, mi.id);
      const ended = await waitForRun(clients.openscale, mi.id, run.id, { timeoutMs: 15_000, pollMs: 25 });
      expect(ended.entity.status.state).toBe('error');
      expect(runFailureMessage(ended)).toContain('the run did not finish within 1 s (custom_metrics_wait_time 1 s');
    } finally {
      await provider?.close();
    }
    expect(outcomes[0]).toMatchObject({ state: 'error', reports: { runsApi: 'ok', instanceParameters: 'ok' } });
  });
});
