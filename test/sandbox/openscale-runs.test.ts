import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CustomMetricsProviderInvocation,
  Measurement,
  MeasurementCollection,
  MonitoringRun,
  MonitoringRunCollection,
} from '../../src/lib/contracts/openscale';
import { SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import { openscaleModule } from '../../src/sandbox/services/openscale';
import { expectIbmError, startTestSandbox, type Api, type TestSandbox } from './helpers';
import {
  cmpBody,
  createInstance,
  createProvider,
  createSubscription,
  createSystem,
  definitionBody,
  DM,
  expectStatus,
  OS,
  pollUntil,
  runPath,
  waitForRunEnd,
} from './openscale-helpers';
import { FakeProvider } from './openscale-provider';

const METRICS = {
  num_images_total_ground_truth: 3, // lower 5 (definition default) → issue
  num_images_total_predicted: 12, // lower 10 (instance override; the default 40 would be an issue) → fine
  num_images_recent_ground_truth: 6, // lower 5 → fine
  'Num Images Recent Predicted': 2000, // lower 40, upper 1000 (defaults) → issue
};

describe('OpenScale runs with a real custom metrics provider', () => {
  let sb: TestSandbox;
  let api: Api;
  let provider: FakeProvider;
  let providerId: string;
  let systemId: string;

  beforeAll(async () => {
    sb = await startTestSandbox({ modules: [openscaleModule], config: { services: { openscale: { readyDelayMs: 0, runQueueMs: 20 } } } });
    api = sb.api;
    provider = await new FakeProvider(() => sb.url).start();
    provider.metrics = METRICS;
    providerId = (await createProvider(api)).metadata.id;
    systemId = (await createSystem(api, cmpBody(sb.url, provider.endpoint))).metadata.id;
    expectStatus(await api.post(`${OS}/monitor_definitions`, definitionBody()), 201);
  });
  afterAll(async () => {
    await provider.close();
    await sb.close();
  });

  /** A fresh subscription with a generic-metrics instance wired to `system`. */
  async function newInstance(options: { wait?: number; system?: string; definition?: string; params?: Record<string, unknown> } = {}): Promise<{ mi: any; sub: any }> {
    const sub = await createSubscription(api, providerId);
    const mi = await createInstance(api, {
      monitor_definition_id: options.definition ?? 'generic_metrics_v5',
      target: { target_type: 'subscription', target_id: sub.metadata.id },
      parameters: options.params ?? { custom_metrics_provider_id: options.system ?? systemId, custom_metrics_wait_time: options.wait ?? 30 },
      thresholds: [{ metric_id: 'num_images_total_predicted', type: 'lower_limit', value: 10 }],
    });
    return { mi, sub };
  }

  async function startRun(miId: string, body?: unknown): Promise<any> {
    const res = await api.post(`${OS}/monitor_instances/${miId}/runs`, body ?? { triggered_by: 'user' });
    const run = expectStatus(res, 201);
    MonitoringRun.parse(run);
    return run;
  }

  it('legacy protocol: invokes the provider with the documented payload, stores its measurement with limits, and finishes', async () => {
    provider.mode = 'legacy';
    const before = provider.calls.length;
    const { mi, sub } = await newInstance();
    const run = await startRun(mi.metadata.id);
    expect(run.entity.status.state).toBe('queued');
    expect(run.entity.triggered_by).toBe('user');
    expect(run.metadata.url).toBe(`${sb.url}${runPath(mi.metadata.id, run.metadata.id)}`);

    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status).toMatchObject({ state: 'finished' });
    expect(done.entity.status.failure).toBeUndefined();
    for (const k of ['queued_at', 'started_at', 'completed_at']) expect(Date.parse(done.entity.status[k])).not.toBeNaN();
    expect(Date.parse(done.entity.status.started_at)).toBeGreaterThanOrEqual(Date.parse(done.entity.status.queued_at));

    // The provider got one call with the documented payload and a working bearer token.
    expect(provider.calls.length).toBe(before + 1);
    const call = provider.calls[provider.calls.length - 1]!;
    expect(call.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const values = CustomMetricsProviderInvocation.parse(call.body).input_data[0]!.values;
    expect(values).toEqual({
      data_mart_id: DM,
      subscription_id: sub.metadata.id,
      custom_monitor_id: 'generic_metrics_v5',
      custom_monitor_instance_id: mi.metadata.id,
      custom_monitor_instance_params: {
        custom_metrics_provider_id: systemId,
        custom_metrics_wait_time: 30,
        run_details: { run_id: run.metadata.id, run_status: 'Running' },
      },
    });
    expect(call.steps.map((s) => [s.step, s.status])).toEqual([
      ['publish_metrics', 202],
      ['update_monitor_instance', 200],
    ]);

    // What the runbook's `monitor status` reads.
    const q = await api.get(`${OS}/measurements?target_id=${sub.metadata.id}&target_type=subscription&monitor_definition_id=generic_metrics_v5&recent_count=1`);
    const list = expectStatus(q, 200);
    expect(list.measurements).toHaveLength(1);
    const m = Measurement.parse(list.measurements[0]).entity;
    expect(m.run_id).toBe(run.metadata.id);
    expect(m.monitor_instance_id).toBe(mi.metadata.id);
    expect(m.target).toEqual({ target_type: 'subscription', target_id: sub.metadata.id });
    expect(m.values[0]!.metrics).toEqual(
      expect.arrayContaining([
        { id: 'num_images_total_ground_truth', value: 3, lower_limit: 5 },
        { id: 'num_images_total_predicted', value: 12, lower_limit: 10 },
        { id: 'num_images_recent_ground_truth', value: 6, lower_limit: 5 },
        { id: 'num_images_recent_predicted', value: 2000, lower_limit: 40, upper_limit: 1000 },
      ]),
    );
    expect(m.values[0]!.metrics).toHaveLength(4);
    expect(m.issue_count).toBe(2);

    // The provider's legacy report stays in the instance parameters.
    const inst = expectStatus(await api.get(`${OS}/monitor_instances/${mi.metadata.id}`), 200);
    expect(inst.entity.parameters.run_details).toEqual({ run_id: run.metadata.id, run_status: 'finished' });
    expect(inst.entity.status.state).toBe('active');

    const byRun = MeasurementCollection.parse(expectStatus(await api.get(`${OS}/monitor_instances/${mi.metadata.id}/measurements?run_id=${run.metadata.id}`), 200));
    expect(byRun.measurements.map((x) => x.entity.run_id)).toEqual([run.metadata.id]);
  });

  it('runs-API protocol: the provider PATCHes /status/state of the run', async () => {
    provider.mode = 'runs-api';
    const { mi } = await newInstance();
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('finished');
    expect(done.entity.status.message).toBe('metrics published');
    const call = provider.calls[provider.calls.length - 1]!;
    expect(call.steps.map((s) => [s.step, s.status])).toEqual([
      ['publish_metrics', 202],
      ['update_run', 200],
    ]);
    const inst = expectStatus(await api.get(`${OS}/monitor_instances/${mi.metadata.id}`), 200);
    expect(inst.entity.parameters.run_details).toBeUndefined();
  });

  it('never finishes a run without a measurement: a status reported first waits for the measurement', async () => {
    provider.mode = 'runs-api-status-first';
    const { mi } = await newInstance();
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('finished');
    const call = provider.calls[provider.calls.length - 1]!;
    expect(call.steps[0]!.step).toBe('update_run');
    expect(call.steps[0]!.json.entity.status.state).toBe('running'); // reported, but no measurement yet
    expect(call.steps[1]).toMatchObject({ step: 'publish_metrics', status: 202 });
  });

  it('a provider that reports finished but publishes nothing errors after custom_metrics_wait_time', async () => {
    provider.mode = 'finished-no-measurement';
    const { mi } = await newInstance({ wait: 1 });
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('error');
    expect(done.entity.status.failure.errors[0].code).toBe('custom_metrics_provider_timeout');
    expect(done.entity.status.message).toContain(`no measurement with run_id ${run.metadata.id}`);
  });

  it('ends the run in error with the message the provider reported', async () => {
    provider.mode = 'report-error';
    const { mi } = await newInstance();
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('error');
    expect(done.entity.status.message).toContain('volume AdditionalDeepLIIFVolume not found');
    expect(done.entity.status.failure).toMatchObject({ errors: [{ code: 'custom_metrics_provider_error' }] });
  });

  it('ends the run in error with the error_msg of the provider reply', async () => {
    provider.mode = 'reply-error';
    const { mi } = await newInstance();
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('error');
    expect(done.entity.status.message).toContain('Cannot find deployment associated with subscription id');
  });

  it('ends the run in error on an HTTP error of the provider', async () => {
    provider.mode = 'http-500';
    const { mi } = await newInstance();
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('error');
    expect(done.entity.status.message).toContain('HTTP 500');
    expect(done.entity.status.message).toContain('division by zero');
  });

  it('times out a provider that never answers after custom_metrics_wait_time', async () => {
    provider.mode = 'hang';
    const { mi } = await newInstance({ wait: 1 });
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('error');
    expect(Date.parse(done.entity.status.started_at)).not.toBeNaN(); // it did run
    expect(done.entity.status.message).toMatch(/timed out after 1 s/);
    expect(done.entity.status.message).toContain('did not answer');
    expect(done.entity.status.failure.errors[0].code).toBe('custom_metrics_provider_timeout');
  });

  it('uses an earlier expiration_date and per-run parameters as the deadline', async () => {
    provider.mode = 'hang';
    const { mi } = await newInstance({ wait: 600 });
    const run = await startRun(mi.metadata.id, { expiration_date: new Date(Date.now() + 800).toISOString() });
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.message).toMatch(/timed out/);
    const run2 = await startRun(mi.metadata.id, { parameters: { custom_metrics_wait_time: 1 } });
    const done2 = await waitForRunEnd(api, mi.metadata.id, run2.metadata.id);
    expect(done2.entity.status.message).toMatch(/timed out after 1 s/);
    const sent = CustomMetricsProviderInvocation.parse(provider.calls[provider.calls.length - 1]!.body);
    expect(sent.input_data[0]!.values.custom_monitor_instance_params.custom_metrics_wait_time).toBe(1);
  });

  it('names an unreachable endpoint', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const endpoint = `http://127.0.0.1:${port}/ml/v4/deployments/gone/predictions?version=2024-05-01`;
    const sys = await createSystem(api, cmpBody(sb.url, endpoint, 'Unreachable Provider'));
    const { mi } = await newInstance({ system: sys.metadata.id });
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('error');
    expect(done.entity.status.message).toContain(endpoint);
    expect(done.entity.status.message).toContain('unreachable');
    expect(done.entity.status.failure.errors[0].code).toBe('custom_metrics_provider_unreachable');
  });

  it('authenticates with basic credentials when the integrated system has auth_type basic', async () => {
    provider.mode = 'legacy';
    const sys = await createSystem(api, {
      ...cmpBody(sb.url, provider.endpoint, 'Basic Provider'),
      credentials: { auth_type: 'basic', username: 'provider-user', password: 'provider-pass' },
    });
    provider.expectAuthorization = `Basic ${Buffer.from('provider-user:provider-pass').toString('base64')}`;
    try {
      const { mi } = await newInstance({ system: sys.metadata.id });
      const run = await startRun(mi.metadata.id);
      const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
      expect(done.entity.status.state).toBe('finished');
    } finally {
      provider.expectAuthorization = undefined;
    }
  });

  it('ends the run in error when token_info does not give a token', async () => {
    provider.mode = 'legacy';
    const body = cmpBody(sb.url, provider.endpoint, 'Wrong Key Provider');
    const credentials = { ...body.credentials, token_info: { ...body.credentials.token_info, payload: { username: SANDBOX_DEMO_USER.username, api_key: 'wrong-key' } } };
    const sys = await createSystem(api, { ...body, credentials });
    const before = provider.calls.length;
    const { mi } = await newInstance({ system: sys.metadata.id });
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('error');
    expect(done.entity.status.message).toContain(`token_info.url ${sb.url}/icp4d-api/v1/authorize answered HTTP 401`);
    expect(done.entity.status.message).not.toContain('wrong-key');
    expect(provider.calls.length).toBe(before); // never called without a token
  });

  it('ends runs of monitors without a custom metrics provider in error instead of inventing results', async () => {
    const def = { ...definitionBody('Service Style Monitor'), monitor_runtime: undefined };
    expectStatus(await api.post(`${OS}/monitor_definitions`, def), 201);
    const { mi } = await newInstance({ definition: 'service_style_monitor', params: {} });
    const run = await startRun(mi.metadata.id);
    const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
    expect(done.entity.status.state).toBe('error');
    expect(done.entity.status.failure.errors[0].code).toBe('no_custom_metrics_provider');
    expect(done.entity.status.message).toContain('service_style_monitor');
  });

  it('enforces the run state machine: one active run per instance, no way back from a final state', async () => {
    provider.mode = 'hang';
    const { mi } = await newInstance({ wait: 60 });
    const id = mi.metadata.id;
    const run = await startRun(id);
    expectIbmError(await api.post(`${OS}/monitor_instances/${id}/runs`, {}), 409, `run ${run.metadata.id}`);
    await pollUntil(api, runPath(id, run.metadata.id), (r) => r.entity.status.state === 'running');
    expectIbmError(await api.patch(runPath(id, run.metadata.id), [{ op: 'replace', path: '/status/state', value: 'queued' }]), 409, 'cannot be moved from running to queued');
    expectIbmError(await api.patch(runPath(id, run.metadata.id), [{ op: 'replace', path: '/status/state', value: 'paused' }]), 400, 'status.state');
    expectIbmError(await api.patch(runPath(id, run.metadata.id), [{ op: 'remove', path: '/nothing' }]), 400, 'patch[0] (remove /nothing)');
    // The provider gives up through the runs API.
    expectStatus(await api.patch(runPath(id, run.metadata.id), [{ op: 'replace', path: '/status/state', value: 'error' }, { op: 'add', path: '/status/message', value: 'gave up' }]), 200);
    expect((await waitForRunEnd(api, id, run.metadata.id)).entity.status.message).toContain('gave up');
    expectIbmError(await api.patch(runPath(id, run.metadata.id), [{ op: 'replace', path: '/status/state', value: 'finished' }]), 409, 'already error');
    const noted = await api.patch(runPath(id, run.metadata.id), [{ op: 'add', path: '/parameters/note', value: 'checked' }], { headers: { 'content-type': 'application/json-patch+json' } });
    expect(expectStatus(noted, 200).entity.parameters.note).toBe('checked');
    expectIbmError(await api.get(runPath(id, '00000000-1111-2222-3333-444444444444')), 404, 'monitoring run');
    expectIbmError(await api.get(runPath('no-such-instance', run.metadata.id)), 404, 'monitor instance');
    expectIbmError(await api.post(`${OS}/monitor_instances/${id}/runs`, { triggered_by: 'cron' }), 400, 'triggered_by');
    // The next run may start now.
    provider.mode = 'legacy';
    const next = await startRun(id);
    expect((await waitForRunEnd(api, id, next.metadata.id)).entity.status.state).toBe('finished');
  });

  it('runs-API protocol: a provider reporting error through /status/failure ends the run with its message', async () => {
    provider.mode = 'hang';
    const { mi } = await newInstance({ wait: 30 });
    const run = await startRun(mi.metadata.id);
    const path = runPath(mi.metadata.id, run.metadata.id);
    await pollUntil(api, path, (r) => r.entity.status.state === 'running');
    const failure = { trace: 'provider-trace', errors: [{ code: 'metrics_failed', message: 'ground truth folder is empty' }] };
    const res = await api.patch(path, [
      { op: 'replace', path: '/status/state', value: 'error' },
      { op: 'add', path: '/status/failure', value: failure },
    ]);
    const patched = expectStatus(res, 200);
    expect(patched.entity.status.state).toBe('error'); // an error needs no measurement
    expect(patched.entity.status.message).toContain('ground truth folder is empty');
    expect(expectStatus(await api.get(path), 200).entity.status.state).toBe('error');
  });

  it('pages runs newest first with start/limit and total_count', async () => {
    provider.mode = 'legacy';
    const { mi } = await newInstance();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await startRun(mi.metadata.id);
      await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
      ids.push(run.metadata.id);
    }
    const first = MonitoringRunCollection.parse(expectStatus(await api.get(`${OS}/monitor_instances/${mi.metadata.id}/runs?limit=2`), 200));
    expect(first.total_count).toBe(3);
    expect(first.runs.map((r) => r.metadata.id)).toEqual([ids[2], ids[1]]);
    expect(first.next?.href).toBeDefined();
    const next = MonitoringRunCollection.parse(expectStatus(await api.get(first.next!.href.slice(sb.url.length)), 200));
    expect(next.runs.map((r) => r.metadata.id)).toEqual([ids[0]]);
    expect(next.next).toBeUndefined();
    expect(next.prev?.href).toBe(first.first?.href);
    expectIbmError(await api.get(`${OS}/monitor_instances/${mi.metadata.id}/runs?limit=0`), 400, 'query.limit');
    expectIbmError(await api.get(`${OS}/monitor_instances/${mi.metadata.id}/runs?start=abc`), 400, 'query.start');
  });

  it('reports runs, instances and definitions in the sandbox status', async () => {
    const res = expectStatus(await api.get('/sandbox/v1/status'), 200);
    const section = res.sections.find((x: { module: string }) => x.module === 'openscale');
    expect(section.title).toBe('Watson OpenScale');
    expect(section.lines.join('\n')).toContain('generic_metrics_v5');
    expect(section.data.runs.finished).toBeGreaterThan(0);
    expect(section.data.runs.error).toBeGreaterThan(0);
  });
});

describe('OpenScale wait time scaling', () => {
  it('scales custom_metrics_wait_time by services.openscale.waitTimeScale and says so', async () => {
    const sb = await startTestSandbox({ modules: [openscaleModule], config: { services: { openscale: { readyDelayMs: 0, runQueueMs: 0, waitTimeScale: 0.002 } } } });
    const provider = await new FakeProvider(() => sb.url).start();
    try {
      const api = sb.api;
      provider.mode = 'hang';
      const sp = await createProvider(api);
      const sub = await createSubscription(api, sp.metadata.id);
      const sys = await createSystem(api, cmpBody(sb.url, provider.endpoint));
      expectStatus(await api.post(`${OS}/monitor_definitions`, definitionBody()), 201);
      const mi = await createInstance(api, {
        monitor_definition_id: 'generic_metrics_v5',
        target: { target_type: 'subscription', target_id: sub.metadata.id },
        parameters: { custom_metrics_provider_id: sys.metadata.id, custom_metrics_wait_time: 360 },
      });
      const run = expectStatus(await api.post(`${OS}/monitor_instances/${mi.metadata.id}/runs`, {}), 201);
      const done = await waitForRunEnd(api, mi.metadata.id, run.metadata.id);
      expect(done.entity.status.message).toContain('timed out after 360 s (custom_metrics_wait_time, scaled ×0.002');
      const sent = CustomMetricsProviderInvocation.parse(provider.calls[0]!.body);
      expect(sent.input_data[0]!.values.custom_monitor_instance_params.custom_metrics_wait_time).toBe(360); // the provider sees the real value
    } finally {
      await provider.close();
      await sb.close();
    }
  });
});
