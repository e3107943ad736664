import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ProfileClients } from '../../src/lib/config';
import { OPENSCALE_DEFAULT_INSTANCE_ID } from '../../src/lib/contracts/openscale';
import { ConfigError, TimeoutError, ValidationError } from '../../src/lib/errors';
import { RemoteApiError } from '../../src/lib/http';
import { GENERIC_MONITOR, SEGMENTATION_MONITOR } from '../../src/lib/monitors/definitions';
import {
  breachOf,
  cpdTokenInfoCredentials,
  defaultDataMartId,
  deleteMonitorInstance,
  findMonitorDefinitionByName,
  findMonitorInstance,
  getIntegratedSystem,
  getServiceProvider,
  listDataMarts,
  listIntegratedSystems,
  listMonitorDefinitions,
  listMonitorInstances,
  listServiceProviders,
  publishMeasurements,
  summarizeMeasurement,
  deleteSubscription,
  DuplicateResourceError,
  ensureCustomMetricsProvider,
  ensureHeadlessServiceProvider,
  ensureMonitorDefinition,
  ensureMonitorInstance,
  ensureSubscription,
  findSubscriptionByName,
  getMonitorInstance,
  latestMeasurement,
  latestRun,
  listRuns,
  listSubscriptions,
  measurementHistory,
  monitorStatus,
  runFailureMessage,
  startRun,
  subscriptionNameFor,
  waitForRun,
} from '../../src/lib/openscale';
import { Plan, PLANNED_ID } from '../../src/lib/plan';
import { SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import type { TestSandbox } from '../sandbox/helpers';
import { definitionBody, OS } from '../sandbox/openscale-helpers';
import { FakeProvider } from '../sandbox/openscale-provider';
import { sandboxClients, startFastSandbox } from '../provider/helpers';

const FAST = { timeoutMs: 10_000, pollMs: 20 };

/** The OpenScale client against the sandbox over real HTTP. */
describe('OpenScale client', () => {
  let sb: TestSandbox;
  let clients: ProfileClients;
  let os: ProfileClients['openscale'];
  let fake: FakeProvider;
  let providerId: string;

  beforeAll(async () => {
    sb = await startFastSandbox();
    clients = await sandboxClients(sb);
    os = clients.openscale;
    fake = await new FakeProvider(() => sb.url).start();
  });
  afterAll(async () => {
    clients.close();
    await fake.close();
    await sb.close();
  });

  it('finds the default data mart (the service instance id)', async () => {
    expect(await defaultDataMartId(os)).toBe(OPENSCALE_DEFAULT_INSTANCE_ID);
  });

  it('creates the headless service provider once, waits until it is active, and reuses it', async () => {
    const plan = new Plan();
    const planned = await ensureHeadlessServiceProvider(os, { plan, wait: FAST });
    expect(planned).toMatchObject({ id: PLANNED_ID, outcome: 'created', planned: true });
    expect(plan.toText()).toContain('openscale create service_provider "OpenScale Headless Service Provider"');
    const states: string[] = [];
    const created = await ensureHeadlessServiceProvider(os, { wait: { ...FAST, onProgress: (s) => states.push(s) } });
    providerId = created.id;
    expect(created.outcome).toBe('created');
    expect(created.resource!.entity).toMatchObject({ service_type: 'custom_machine_learning', operational_space_id: 'production', status: { state: 'active' } });
    // It was polled until active (it starts as preparing; how many polls that takes is up to the clock).
    expect(states[states.length - 1]).toBe('active');
    expect(states.every((x) => x === 'preparing' || x === 'active')).toBe(true);
    const again = await ensureHeadlessServiceProvider(os, { wait: FAST });
    expect(again).toMatchObject({ id: created.id, outcome: 'existing', changes: [] });
  });

  it('reports duplicate service providers instead of picking one', async () => {
    const body = { name: 'Twice', service_type: 'custom_machine_learning', credentials: {} };
    const a = (await sb.api.post(`${OS}/service_providers`, body)).json.metadata.id;
    const b = (await sb.api.post(`${OS}/service_providers`, body)).json.metadata.id;
    const err = await ensureHeadlessServiceProvider(os, { name: 'Twice', wait: FAST }).catch((e) => e);
    expect(err).toBeInstanceOf(DuplicateResourceError);
    expect(err.ids).toEqual([a, b]);
    expect(err.message).toContain('2 service providers match name "Twice"');
  });

  it('finds or creates the dummy subscription by asset name and reports duplicates', async () => {
    const name = subscriptionNameFor('deepliif-seg');
    expect(name).toBe('deepliif-seg Monitor');
    const plan = new Plan();
    expect((await ensureSubscription(os, { name, serviceProviderId: providerId, plan })).planned).toBe(true);
    expect(await findSubscriptionByName(os, name)).toBeUndefined();
    const sub = await ensureSubscription(os, { name, serviceProviderId: providerId, wait: FAST });
    expect(sub.outcome).toBe('created');
    expect(sub.resource!.entity).toMatchObject({
      data_mart_id: OPENSCALE_DEFAULT_INSTANCE_ID,
      asset: { name, asset_type: 'model', input_data_type: 'structured', problem_type: 'multiclass', url: '' },
      deployment: { name, deployment_type: 'online' },
      asset_properties: { probability_fields: ['probability'] },
      status: { state: 'active' },
    });
    expect(await ensureSubscription(os, { name, serviceProviderId: providerId, wait: FAST })).toMatchObject({ id: sub.id, outcome: 'existing', notes: [] });
    const other = await ensureSubscription(os, { name, serviceProviderId: 'another-provider', wait: FAST });
    expect(other.notes[0]).toContain(`belongs to service provider ${providerId}`);

    // A second subscription of the same name (made outside the library) is reported, not ignored.
    const dup = await sb.api.post(`${OS}/subscriptions`, { ...sub.resource!.entity, status: undefined });
    expect(dup.status).toBe(201);
    const err = await ensureSubscription(os, { name, serviceProviderId: providerId }).catch((e) => e);
    expect(err).toBeInstanceOf(DuplicateResourceError);
    expect(err.ids).toEqual([sub.id, dup.json.metadata.id]);
    await expect(findSubscriptionByName(os, name)).rejects.toThrow(/2 subscriptions match asset name "deepliif-seg Monitor"/);
    const deletePlan = new Plan();
    await deleteSubscription(os, dup.json.metadata.id, { plan: deletePlan });
    expect(deletePlan.changes).toHaveLength(1);
    await deleteSubscription(os, dup.json.metadata.id);
    expect((await findSubscriptionByName(os, name))!.metadata.id).toBe(sub.id);
  });

  it('registers a custom metrics provider and updates endpoint and credentials only when they change', async () => {
    const credentials = cpdTokenInfoCredentials(clients.profile);
    expect(credentials).toMatchObject({ auth_type: 'bearer', token_info: { url: `${sb.url}/icp4d-api/v1/authorize`, payload: { username: 'admin' } } });
    const spec = { name: 'Runbook Metrics Provider', endpoint: `${fake.url}/score`, credentials };
    const created = await ensureCustomMetricsProvider(os, spec);
    expect(created.outcome).toBe('created');
    expect(created.resource!.entity.connection).toMatchObject({ endpoint: `${fake.url}/score` });
    // The API key went to OpenScale but does not come back.
    expect(JSON.stringify(created.resource)).not.toContain(SANDBOX_DEMO_USER.apiKey);

    expect(await ensureCustomMetricsProvider(os, spec)).toMatchObject({ id: created.id, outcome: 'existing', changes: [] });

    const plan = new Plan();
    const moved = { ...spec, endpoint: `${fake.url}/v2/score` };
    const planned = await ensureCustomMetricsProvider(os, moved, { plan });
    expect(planned).toMatchObject({ outcome: 'updated', planned: true });
    expect(plan.toText()).toContain(`endpoint ${fake.url}/score → ${fake.url}/v2/score`);
    expect((await ensureCustomMetricsProvider(os, spec)).outcome).toBe('existing');

    const updated = await ensureCustomMetricsProvider(os, moved);
    expect(updated.changes).toEqual([`endpoint ${fake.url}/score → ${fake.url}/v2/score`]);
    expect(updated.resource!.entity.connection!.endpoint).toBe(`${fake.url}/v2/score`);

    if (credentials.auth_type !== 'bearer') throw new Error('expected bearer credentials');
    const otherUser = { ...moved, credentials: { ...credentials, token_info: { ...credentials.token_info, payload: { username: 'someone', api_key: 'k-123456' } } } } as typeof moved;
    const relogin = await ensureCustomMetricsProvider(os, otherUser);
    expect(relogin.changes).toEqual(['credentials (token URL, user or auth type changed)']);
    expect(JSON.stringify(relogin)).not.toContain('k-123456');
    // Secret values are masked in answers: an unchanged visible part needs rotateCredentials.
    expect((await ensureCustomMetricsProvider(os, otherUser)).outcome).toBe('existing');
    const rotated = await ensureCustomMetricsProvider(os, moved, { rotateCredentials: false });
    expect(rotated.changes).toEqual(['credentials (token URL, user or auth type changed)']);
    expect((await ensureCustomMetricsProvider(os, moved, { rotateCredentials: true })).changes).toEqual(['credentials (rewritten on request)']);

    expect(() => cpdTokenInfoCredentials({ cpdUrl: sb.url, auth: { kind: 'bearer' } })).toThrow(ConfigError);
    await expect(ensureCustomMetricsProvider(os, { ...spec, endpoint: 'not a url' })).rejects.toThrow(/expected an http\(s\) URL/);
  });

  it('registers the two monitor definitions once and reports (or, asked to, fixes) differences', async () => {
    const plan = new Plan();
    const planned = await ensureMonitorDefinition(os, SEGMENTATION_MONITOR, { plan });
    expect(planned).toMatchObject({ id: 'segmentation_metrics', planned: true });
    const seg = await ensureMonitorDefinition(os, SEGMENTATION_MONITOR);
    expect(seg).toMatchObject({ id: 'segmentation_metrics', outcome: 'created' });
    expect(seg.resource!.entity.metrics).toHaveLength(18);
    expect(seg.resource!.entity.metrics.find((m) => m.name === 'Dice')).toMatchObject({ id: 'dice', thresholds: [{ type: 'lower_limit', default: 25 }] });
    const gen = await ensureMonitorDefinition(os, GENERIC_MONITOR);
    expect(gen).toMatchObject({ id: 'generic_metrics', outcome: 'created' });
    expect(await ensureMonitorDefinition(os, SEGMENTATION_MONITOR)).toMatchObject({ outcome: 'existing', differences: [] });

    // A versioned definition registered elsewhere with other metrics: reported, left alone, then updated on request.
    const other = definitionBody('Generic Metrics v5');
    expect((await sb.api.post(`${OS}/monitor_definitions`, other)).status).toBe(201);
    const reported = await ensureMonitorDefinition(os, GENERIC_MONITOR, { name: 'Generic Metrics v5' });
    expect(reported.outcome).toBe('existing');
    expect(reported.differences).toEqual([
      'metric num_images_recent_predicted is missing',
      "metric Num Images Recent Predicted is not one of Generic Metrics v5's",
    ]);
    expect((await sb.api.get(`${OS}/monitor_definitions/generic_metrics_v5`)).json.entity.metrics[3].name).toBe('Num Images Recent Predicted');
    const fixed = await ensureMonitorDefinition(os, GENERIC_MONITOR, { name: 'Generic Metrics v5', onDifference: 'update', thresholds: { num_images_total_predicted: { threshold: [8, 'lower'] } } });
    expect(fixed.outcome).toBe('updated');
    expect(fixed.resource!.entity.metrics.map((m) => m.id)).toEqual(['num_images_total_ground_truth', 'num_images_total_predicted', 'num_images_recent_ground_truth', 'num_images_recent_predicted']);
    const again = await ensureMonitorDefinition(os, GENERIC_MONITOR, { name: 'Generic Metrics v5' });
    expect(again.differences).toEqual(['metric num_images_total_predicted: thresholds lower_limit 8, expected lower_limit 40']);
  });

  it('creates a monitor instance with the effective thresholds and pushes changed thresholds and parameters later', async () => {
    const sub = await ensureSubscription(os, { name: subscriptionNameFor('inst-test'), serviceProviderId: providerId, wait: FAST });
    const system = await ensureCustomMetricsProvider(os, { name: 'Instance Test Provider', endpoint: fake.endpoint, credentials: cpdTokenInfoCredentials(clients.profile) });
    const spec = { monitorDefinitionId: 'segmentation_metrics', subscriptionId: sub.id, integratedSystemId: system.id, thresholds: { Dice: 20, IOU: { threshold: [12, 'lower'] as [number, 'lower'] } } };

    const plan = new Plan();
    const planned = await ensureMonitorInstance(os, spec, { plan, wait: FAST });
    expect(planned).toMatchObject({ id: PLANNED_ID, outcome: 'created', planned: true });
    expect(planned.thresholds.Dice).toEqual({ threshold: [20, 'lower'] });

    const created = await ensureMonitorInstance(os, spec, { wait: FAST });
    expect(created.outcome).toBe('created');
    const mi = created.resource!;
    expect(mi.entity.status.state).toBe('active');
    expect(mi.entity.parameters).toEqual({ custom_metrics_provider_id: system.id, custom_metrics_wait_time: 360 });
    const byId = Object.fromEntries((mi.entity.thresholds ?? []).map((t) => [t.metric_id, t.value]));
    expect(Object.keys(byId)).toHaveLength(18);
    expect(byId).toMatchObject({ dice: 20, iou: 12, dice_positive: 0.25, precision: 60 });

    expect(await ensureMonitorInstance(os, spec, { wait: FAST })).toMatchObject({ id: created.id, outcome: 'existing', changes: [] });

    // The provider's run status lives in the parameters: it must survive a parameter update.
    const patch = await sb.api.patch(`${OS}/monitor_instances/${created.id}?update_metadata_only=true`, [
      { op: 'add', path: '/parameters/run_details', value: { run_id: 'r-1', run_status: 'finished' } },
      { op: 'add', path: '/parameters/last_run_time', value: '2024-01-01T00:00:00Z' },
    ]);
    expect(patch.status).toBe(200);
    const changed = await ensureMonitorInstance(os, { ...spec, waitTimeSeconds: 120, thresholds: { Dice: 22 } }, { wait: FAST });
    expect(changed.outcome).toBe('updated');
    expect(changed.thresholdChanges).toEqual([
      { metric: 'Dice', before: [20, 'lower'], after: [22, 'lower'] },
      { metric: 'IOU', before: [12, 'lower'], after: [15, 'lower'] },
    ]);
    expect(changed.changes).toEqual(['parameters.custom_metrics_wait_time 360 → 120', 'thresholds: Dice 20 (lower) → 22 (lower), IOU 12 (lower) → 15 (lower)']);
    const now = await getMonitorInstance(os, created.id);
    expect(now.entity.status.state).toBe('active');
    expect(now.entity.parameters).toEqual({
      custom_metrics_provider_id: system.id,
      custom_metrics_wait_time: 120,
      run_details: { run_id: 'r-1', run_status: 'finished' },
      last_run_time: '2024-01-01T00:00:00Z',
    });
    expect(now.entity.thresholds!.find((t) => t.metric_id === 'dice')!.value).toBe(22);

    const planUpdate = new Plan();
    await ensureMonitorInstance(os, { ...spec, waitTimeSeconds: 120, thresholds: { Dice: 30 } }, { plan: planUpdate });
    expect(planUpdate.toText()).toContain('Dice 22 (lower) → 30 (lower)');
    expect((await getMonitorInstance(os, created.id)).entity.thresholds!.find((t) => t.metric_id === 'dice')!.value).toBe(22);

    await expect(ensureMonitorInstance(os, { ...spec, thresholds: { dice: 20 } })).rejects.toThrow(/unknown metric "dice" \(did you mean "Dice"\?\)/);
    await expect(ensureMonitorInstance(os, { ...spec, monitorDefinitionId: 'nope' })).rejects.toThrow(ValidationError);
  });

  it('reads single resources, lists with filters, publishes by metric name and deletes instances', async () => {
    expect((await listDataMarts(os)).map((m) => m.metadata.id)).toEqual([OPENSCALE_DEFAULT_INSTANCE_ID]);
    expect((await listServiceProviders(os, { serviceType: 'custom_machine_learning' })).length).toBeGreaterThanOrEqual(3);
    expect(await listServiceProviders(os, { serviceType: 'watson_machine_learning' })).toEqual([]);
    expect((await getServiceProvider(os, providerId)).entity.name).toBe('OpenScale Headless Service Provider');
    const systems = await listIntegratedSystems(os, 'custom_metrics_provider');
    const system = systems.find((x) => x.entity.name === 'Runbook Metrics Provider')!;
    expect((await getIntegratedSystem(os, system.metadata.id)).entity.connection!.endpoint).toBe(`${fake.url}/v2/score`);
    expect((await listMonitorDefinitions(os)).map((d) => d.metadata.id).sort()).toEqual(['generic_metrics', 'generic_metrics_v5', 'segmentation_metrics']);
    expect((await findMonitorDefinitionByName(os, 'Generic Metrics v5'))!.metadata.id).toBe('generic_metrics_v5');
    expect(await findMonitorDefinitionByName(os, 'No Such Monitor')).toBeUndefined();

    const sub = await ensureSubscription(os, { name: subscriptionNameFor('filters'), serviceProviderId: providerId, wait: FAST });
    const mi = await ensureMonitorInstance(os, { monitorDefinitionId: 'generic_metrics', subscriptionId: sub.id, integratedSystemId: system.metadata.id }, { wait: FAST });
    expect((await listMonitorInstances(os, { subscriptionId: sub.id })).map((m) => m.metadata.id)).toEqual([mi.id]);
    expect(await listMonitorInstances(os, { subscriptionId: sub.id, monitorDefinitionId: 'segmentation_metrics' })).toEqual([]);
    expect((await findMonitorInstance(os, 'generic_metrics', sub.id))!.metadata.id).toBe(mi.id);

    // Published under metric names, stored under ids with the instance's limits.
    const stored = await publishMeasurements(os, mi.id, [{ timestamp: new Date().toISOString(), metrics: [{ num_images_total_ground_truth: 2, num_images_total_predicted: 50, num_images_recent_ground_truth: 9, num_images_recent_predicted: 41 }] }]);
    expect(stored[0]!.entity.issue_count).toBe(1);
    expect(summarizeMeasurement(stored[0]!).metrics[0]).toEqual({ id: 'num_images_total_ground_truth', name: 'num_images_total_ground_truth', value: 2, lowerLimit: 5, breach: 'below lower limit' });
    await expect(publishMeasurements(os, mi.id, [{ timestamp: new Date().toISOString(), metrics: [{ not_a_metric: 1 }] }])).rejects.toThrow(/400.*'not_a_metric' is not a metric of monitor definition 'generic_metrics'/);
    expect(breachOf(5, 1, 4)).toBe('above upper limit');
    expect(breachOf(1, 1, 4)).toBeUndefined();

    const plan = new Plan();
    await deleteMonitorInstance(os, mi.id, { plan });
    expect(plan.toText()).toBe(`openscale delete monitor_instance "generic_metrics on subscription ${sub.id}" — id ${mi.id}`);
    expect(await findMonitorInstance(os, 'generic_metrics', sub.id)).toBeDefined();
    await deleteMonitorInstance(os, mi.id, { force: true });
    expect(await findMonitorInstance(os, 'generic_metrics', sub.id)).toBeUndefined();
    await expect(getMonitorInstance(os, mi.id)).rejects.toThrow(/404/);
  });

  describe('runs, measurements and status', () => {
    let instanceId: string;
    let subscriptionId: string;

    beforeAll(async () => {
      const sub = await ensureSubscription(os, { name: subscriptionNameFor('runs-test'), serviceProviderId: providerId, wait: FAST });
      subscriptionId = sub.id;
      const system = await ensureCustomMetricsProvider(os, { name: 'Fake Provider', endpoint: fake.endpoint, credentials: cpdTokenInfoCredentials(clients.profile) });
      const mi = await ensureMonitorInstance(
        os,
        { monitorDefinitionId: 'generic_metrics', subscriptionId, integratedSystemId: system.id, waitTimeSeconds: 30, thresholds: { num_images_total_predicted: 10 } },
        { wait: FAST },
      );
      instanceId = mi.id;
    });

    it('triggers a run, waits with progress, and reads the measurement with limits and breaches', async () => {
      fake.mode = 'legacy';
      fake.metrics = { num_images_total_ground_truth: 3, num_images_total_predicted: 12, num_images_recent_ground_truth: 6, num_images_recent_predicted: 50 };
      const plan = new Plan();
      expect(await startRun(os, instanceId, { plan })).toEqual({ id: PLANNED_ID, planned: true });
      expect(await latestRun(os, instanceId)).toBeUndefined();
      const started = await startRun(os, instanceId);
      expect(started.run!.entity.status.state).toBe('queued');
      const states: string[] = [];
      const run = await waitForRun(os, instanceId, started.id, { ...FAST, onProgress: (p) => states.push(p.state) });
      expect(run.entity.status.state).toBe('finished');
      expect(states[states.length - 1]).toBe('finished');
      expect(runFailureMessage(run)).toBeUndefined();

      const m = await latestMeasurement(os, subscriptionId, 'generic_metrics');
      expect(m!.entity.run_id).toBe(started.id);
      expect(m!.entity.issue_count).toBe(1);
      const status = await monitorStatus(os, subscriptionId);
      expect(status.breaches).toBe(1);
      expect(status.failedRuns).toBe(0);
      expect(status.monitors).toHaveLength(1);
      const mon = status.monitors[0]!;
      expect(mon).toMatchObject({ instanceId, monitorDefinitionId: 'generic_metrics', monitorName: 'Generic Metrics', instanceState: 'active', lastRun: { id: started.id, state: 'finished' }, breaches: 1 });
      expect(mon.measurement!.metrics).toEqual([
        { id: 'num_images_total_ground_truth', name: 'num_images_total_ground_truth', value: 3, lowerLimit: 5, breach: 'below lower limit' },
        { id: 'num_images_total_predicted', name: 'num_images_total_predicted', value: 12, lowerLimit: 10 },
        { id: 'num_images_recent_ground_truth', name: 'num_images_recent_ground_truth', value: 6, lowerLimit: 5 },
        { id: 'num_images_recent_predicted', name: 'num_images_recent_predicted', value: 50, lowerLimit: 40 },
      ]);
    });

    it('lists runs across pages, reads history over a time range, and reports failed runs', async () => {
      const from = new Date();
      fake.mode = 'report-error';
      const second = await startRun(os, instanceId);
      const failed = await waitForRun(os, instanceId, second.id, FAST);
      expect(failed.entity.status.state).toBe('error');
      expect(runFailureMessage(failed)).toContain('volume AdditionalDeepLIIFVolume not found');
      fake.mode = 'legacy';
      const third = await startRun(os, instanceId);
      await waitForRun(os, instanceId, third.id, FAST);

      const all = await listRuns(os, instanceId, { limit: 1 });
      expect(all.map((r) => r.metadata.id).slice(0, 2)).toEqual([third.id, second.id]);
      expect(all).toHaveLength(3);
      expect((await listRuns(os, instanceId, { limit: 1, max: 2 })).length).toBe(2);
      expect((await latestRun(os, instanceId))!.metadata.id).toBe(third.id);

      const history = await measurementHistory(os, instanceId, { start: from, end: new Date(Date.now() + 60_000), pageSize: 1 });
      expect(history.map((h) => h.entity.run_id)).toEqual([third.id]);
      const everything = await measurementHistory(os, instanceId, { start: new Date(0), end: new Date(Date.now() + 60_000) });
      expect(everything).toHaveLength(2);
      await expect(measurementHistory(os, instanceId, { start: new Date(), end: new Date(0) })).rejects.toThrow(/start is after end/);
    });

    it('times out waiting for a run that does not end, naming it', async () => {
      fake.mode = 'hang';
      const run = await startRun(os, instanceId, { parameters: { custom_metrics_wait_time: 3 } });
      const err = await waitForRun(os, instanceId, run.id, { timeoutMs: 300, pollMs: 50 }).catch((e) => e);
      expect(err).toBeInstanceOf(TimeoutError);
      expect(err.message).toMatch(new RegExp(`run ${run.id} of monitor instance ${instanceId} is still running`));
      // The sandbox ends it at the (shortened) wait time.
      const ended = await waitForRun(os, instanceId, run.id, FAST);
      expect(ended.entity.status.state).toBe('error');
      expect((await monitorStatus(os, subscriptionId)).failedRuns).toBe(1);
      fake.mode = 'legacy';
    });
  });
});

describe('OpenScale client under injected faults', () => {
  let sb: TestSandbox;
  let clients: ProfileClients;
  const retries: string[] = [];

  beforeAll(async () => {
    sb = await startFastSandbox({
      seed: 5,
      faults: [
        { route: 'GET /openscale/*', errorRate: 0.3, statuses: [503, 502, 429], retryAfterSeconds: 0 },
        { route: 'PATCH /openscale/*', errorRate: 1, statuses: [500], maxHits: 2 },
        { route: 'POST /openscale/*/v2/subscriptions', errorRate: 1, statuses: [503], retryAfterSeconds: 0, maxHits: 1 },
      ],
    });
    // Random faults on every read: enough retries that a request failing every time is practically impossible.
    clients = await sandboxClients(sb, { retry: { retries: 12, baseDelayMs: 2, maxDelayMs: 10, maxRetryAfterMs: 10 }, onRetry: (i) => retries.push(`${i.method} ${i.reason}`) });
  });
  afterAll(async () => {
    clients.close();
    await sb.close();
  });

  it('retries reads and JSON Patch updates; a failed create is not repeated blindly and the next call creates once', async () => {
    const os = clients.openscale;
    const provider = await ensureHeadlessServiceProvider(os, { wait: FAST });
    const name = subscriptionNameFor('faulty');
    const first = await ensureSubscription(os, { name, serviceProviderId: provider.id, wait: FAST }).catch((e) => e);
    expect(first).toBeInstanceOf(RemoteApiError);
    expect(first.status).toBe(503);
    expect(first.attempts).toBe(1);
    const sub = await ensureSubscription(os, { name, serviceProviderId: provider.id, wait: FAST });
    expect(sub.outcome).toBe('created');
    expect(await listSubscriptions(os)).toHaveLength(1);

    await ensureMonitorDefinition(os, GENERIC_MONITOR);
    const spec = { name: 'P', endpoint: 'http://127.0.0.1:9/score', credentials: cpdTokenInfoCredentials(clients.profile) };
    const system = await ensureCustomMetricsProvider(os, spec);
    const updated = await ensureCustomMetricsProvider(os, { ...spec, endpoint: 'http://127.0.0.1:10/score' });
    expect(updated.outcome).toBe('updated');
    const mi = await ensureMonitorInstance(os, { monitorDefinitionId: 'generic_metrics', subscriptionId: sub.id, integratedSystemId: system.id }, { wait: FAST });
    const changed = await ensureMonitorInstance(os, { monitorDefinitionId: 'generic_metrics', subscriptionId: sub.id, integratedSystemId: system.id, thresholds: { num_images_total_ground_truth: 7 } }, { wait: FAST });
    expect(changed).toMatchObject({ id: mi.id, outcome: 'updated' });
    expect((await monitorStatus(os, sub.id)).monitors).toHaveLength(1);
    expect(retries.filter((r) => r.startsWith('PATCH'))).toEqual(['PATCH 500', 'PATCH 500']);
    expect(retries.filter((r) => r.startsWith('GET')).length).toBeGreaterThan(0);
    expect(retries.some((r) => r.startsWith('POST'))).toBe(false);
  });
});
