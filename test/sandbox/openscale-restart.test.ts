import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rmSync } from 'node:fs';
import type { SandboxConfigInput } from '../../src/sandbox/config';
import { startSandboxServer, type RunningSandbox } from '../../src/sandbox/server';
import { openscaleModule } from '../../src/sandbox/services/openscale';
import { Api, demoToken, tempStateDir } from './helpers';
import {
  cmpBody,
  createInstance,
  createProvider,
  createSubscription,
  createSystem,
  definitionBody,
  expectStatus,
  OS,
  pollUntil,
  runPath,
  sleep,
  waitForRunEnd,
} from './openscale-helpers';
import { FakeProvider } from './openscale-provider';

/**
 * "Restarting the sandbox in the middle of a scenario loses nothing": every check closes the server
 * and starts a new one on the same state dir (and port, so that token_info URLs stay valid).
 */
describe('OpenScale state across sandbox restarts', () => {
  const stateDir = tempStateDir('openscale-restart-');
  let server: RunningSandbox | undefined;
  let api: Api;
  let port = 0;
  const provider = new FakeProvider(() => api.url);

  async function start(openscale: Record<string, unknown> = {}): Promise<void> {
    const config: SandboxConfigInput = { logRequests: false, services: { openscale: { readyDelayMs: 0, runQueueMs: 20, ...openscale } } };
    server = await startSandboxServer({ stateDir, port, modules: [openscaleModule], config });
    port = server.port;
    api = new Api(server.url, await demoToken(server.url));
  }
  async function restart(openscale: Record<string, unknown> = {}): Promise<void> {
    await server!.close();
    server = undefined;
    await start(openscale);
  }

  let ids: Record<string, string> = {};
  beforeAll(async () => {
    await provider.start();
    provider.metrics = { num_images_total_ground_truth: 3, num_images_total_predicted: 50, num_images_recent_ground_truth: 1, 'Num Images Recent Predicted': 41 };
    await start();
    const sp = await createProvider(api);
    const deleted = await createProvider(api, 'Deleted provider');
    expect((await api.delete(`${OS}/service_providers/${deleted.metadata.id}`)).status).toBe(202);
    const sub = await createSubscription(api, sp.metadata.id, 'restart Monitor');
    const sys = await createSystem(api, cmpBody(api.url, provider.endpoint));
    expectStatus(await api.post(`${OS}/monitor_definitions`, definitionBody()), 201);
    const mi = await createInstance(api, {
      monitor_definition_id: 'generic_metrics_v5',
      target: { target_type: 'subscription', target_id: sub.metadata.id },
      parameters: { custom_metrics_provider_id: sys.metadata.id, custom_metrics_wait_time: 30 },
      thresholds: [{ metric_id: 'num_images_recent_ground_truth', type: 'lower_limit', value: 2 }],
    });
    ids = { sp: sp.metadata.id, deleted: deleted.metadata.id, sub: sub.metadata.id, sys: sys.metadata.id, mi: mi.metadata.id };
  });
  afterAll(async () => {
    await server?.close();
    await provider.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** Everything a client can read, without the parts that legitimately differ (none expected). */
  async function snapshot(): Promise<Record<string, unknown>> {
    const get = async (path: string) => expectStatus(await api.get(path), 200);
    return {
      dataMarts: await get(`${OS}/data_marts`),
      providers: await get(`${OS}/service_providers?show_deleted=true`),
      subscriptions: await get(`${OS}/subscriptions`),
      systems: await get(`${OS}/integrated_systems`),
      definitions: await get(`${OS}/monitor_definitions`),
      instances: await get(`${OS}/monitor_instances`),
      runs: await get(`${OS}/monitor_instances/${ids.mi}/runs`),
      measurements: await get(`${OS}/measurements?target_id=${ids.sub}&target_type=subscription`),
      byRange: await get(`${OS}/monitor_instances/${ids.mi}/measurements?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z`),
    };
  }

  it('keeps every resource, run and measurement of a finished run', async () => {
    provider.mode = 'legacy';
    const run = expectStatus(await api.post(`${OS}/monitor_instances/${ids.mi}/runs`, {}), 201);
    const done = await waitForRunEnd(api, ids.mi, run.metadata.id);
    expect(done.entity.status.state).toBe('finished');
    expectStatus(await api.post(`${OS}/monitor_instances/${ids.mi}/measurements`, [{ timestamp: '2024-05-01T00:00:00Z', metrics: [{ num_images_total_predicted: 1 }] }]), 202);
    const before = await snapshot();
    expect((before.measurements as any).measurements).toHaveLength(2);
    expect((before.measurements as any).measurements[0].entity.issue_count).toBe(2); // total ground truth 3 < 5, recent 1 < 2 (override)

    await restart();
    const after = await snapshot();
    expect(after).toEqual(before);
    expect((after.dataMarts as any).data_marts).toHaveLength(1); // not made twice
    // The restarted sandbox still drives runs end to end.
    const again = expectStatus(await api.post(`${OS}/monitor_instances/${ids.mi}/runs`, {}), 201);
    expect((await waitForRunEnd(api, ids.mi, again.metadata.id)).entity.status.state).toBe('finished');
  });

  it('resumes waiting for a run that was running, and lets the provider complete it after the restart', async () => {
    provider.mode = 'hang';
    const calls = provider.calls.length;
    const run = expectStatus(await api.post(`${OS}/monitor_instances/${ids.mi}/runs`, {}), 201);
    const path = runPath(ids.mi, run.metadata.id);
    await pollUntil(api, path, (r) => r.entity.status.state === 'running');
    while (provider.calls.length === calls) await sleep(20); // the provider has the call

    await restart();
    expect(expectStatus(await api.get(path), 200).entity.status.state).toBe('running');
    // The provider (its work outlived the sandbox) publishes and reports to the restarted sandbox.
    expectStatus(await api.post(`${OS}/monitor_instances/${ids.mi}/measurements`, [{ timestamp: new Date().toISOString(), run_id: run.metadata.id, metrics: [provider.metrics] }]), 202);
    const current = expectStatus(await api.get(`${OS}/monitor_instances/${ids.mi}`), 200);
    expectStatus(
      await api.patch(`${OS}/monitor_instances/${ids.mi}?update_metadata_only=true`, [
        { op: 'replace', path: '/parameters', value: { ...current.entity.parameters, run_details: { run_id: run.metadata.id, run_status: 'finished' } } },
      ]),
      200,
    );
    expect((await waitForRunEnd(api, ids.mi, run.metadata.id)).entity.status.state).toBe('finished');
  });

  it('fails a running run whose wait time passed while the sandbox was down', async () => {
    provider.mode = 'hang';
    const run = expectStatus(await api.post(`${OS}/monitor_instances/${ids.mi}/runs`, { parameters: { custom_metrics_wait_time: 3 } }), 201);
    const path = runPath(ids.mi, run.metadata.id);
    await pollUntil(api, path, (r) => r.entity.status.state === 'running');
    const deadline = Date.parse(expectStatus(await api.get(path), 200).entity.status.started_at) + 3000;
    await server!.close();
    server = undefined;
    await sleep(Math.max(0, deadline - Date.now()) + 200); // past the deadline while stopped
    await start();
    const after = expectStatus(await api.get(path), 200);
    expect(after.entity.status.state).toBe('error');
    expect(after.entity.status.failure.errors[0].code).toBe('sandbox_restarted');
    expect(after.entity.status.message).toContain('the sandbox restarted during the run');
  });

  it('starts a run that was still queued when the sandbox stopped', async () => {
    await restart({ runQueueMs: 600_000 });
    provider.mode = 'legacy';
    const run = expectStatus(await api.post(`${OS}/monitor_instances/${ids.mi}/runs`, {}), 201);
    await restart({ runQueueMs: 20 });
    expect((await waitForRunEnd(api, ids.mi, run.metadata.id)).entity.status.state).toBe('finished');
  });
});
