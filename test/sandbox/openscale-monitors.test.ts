import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Measurement,
  MeasurementCollection,
  MeasurementCreateResponse,
  MonitorDefinition,
  MonitorDefinitionCollection,
  MonitorInstance,
  MonitorInstanceCollection,
} from '../../src/lib/contracts/openscale';
import { GENERIC_MONITOR, SEGMENTATION_MONITOR } from '../../src/lib/monitors/definitions';
import { toDefinitionMetrics, toInstanceThresholds } from '../../src/lib/thresholds/wire';
import { openscaleModule } from '../../src/sandbox/services/openscale';
import { expectIbmError, startTestSandbox, type Api, type TestSandbox } from './helpers';
import { cmpBody, createInstance, createProvider, createSubscription, createSystem, definitionBody, DM, expectStatus, OS, pollUntil } from './openscale-helpers';

describe('OpenScale monitor definitions, monitor instances and measurements', () => {
  let sb: TestSandbox;
  let api: Api;
  let providerId: string;
  let systemId: string;

  beforeAll(async () => {
    sb = await startTestSandbox({ modules: [openscaleModule], config: { services: { openscale: { readyDelayMs: 0 } } } });
    api = sb.api;
    providerId = (await createProvider(api)).metadata.id;
    systemId = (await createSystem(api, cmpBody(sb.url, 'http://127.0.0.1:9/never-called'))).metadata.id;
  });
  afterAll(async () => {
    await sb.close();
  });

  describe('monitor definitions', () => {
    it('derives the definition id and metric ids from the names, as the runbook relies on', async () => {
      const body = { name: SEGMENTATION_MONITOR.name, metrics: toDefinitionMetrics(SEGMENTATION_MONITOR), tags: [], monitor_runtime: { type: 'custom_metrics_provider' } };
      const res = await api.post(`${OS}/monitor_definitions`, body);
      const def = MonitorDefinition.parse(expectStatus(res, 201));
      expect(def.metadata.id).toBe(SEGMENTATION_MONITOR.id);
      expect(def.metadata.url).toBe(`${sb.url}${OS}/monitor_definitions/segmentation_metrics`);
      const dice = def.entity.metrics.find((m) => m.name === 'Dice_positive')!;
      expect(dice.id).toBe('dice_positive');
      expect(dice.thresholds).toEqual([{ type: 'lower_limit', default: 0.25 }]);
      expect(def.entity.metrics).toHaveLength(SEGMENTATION_MONITOR.metrics.length);
      expect(expectStatus(await api.get(`${OS}/monitor_definitions/segmentation_metrics`), 200)).toEqual(res.json);
      const withVersion = expectStatus(await api.post(`${OS}/monitor_definitions`, definitionBody('Generic Metrics v5')), 201);
      expect(withVersion.metadata.id).toBe('generic_metrics_v5');
      expect(withVersion.entity.metrics.map((m: any) => m.id)).toEqual([
        'num_images_total_ground_truth',
        'num_images_total_predicted',
        'num_images_recent_ground_truth',
        'num_images_recent_predicted',
      ]);
      const tagged = expectStatus(
        await api.post(`${OS}/monitor_definitions`, { name: 'Tagged Monitor', metrics: [{ name: 'Score', id: 'ignored' }], tags: [{ name: 'Image Set', description: 'which set' }] }),
        201,
      );
      expect(tagged.entity.metrics[0].id).toBe('score');
      expect(tagged.entity.tags).toEqual([{ name: 'Image Set', description: 'which set', id: 'image_set' }]);
    });

    it('refuses duplicate names (also names that give the same id) with 409', async () => {
      expectIbmError(await api.post(`${OS}/monitor_definitions`, definitionBody('Generic Metrics v5')), 409, "named 'Generic Metrics v5'");
      expectIbmError(await api.post(`${OS}/monitor_definitions`, definitionBody('generic-metrics-V5')), 409, 'generic_metrics_v5');
    });

    it('validates definitions naming the field', async () => {
      expectIbmError(await api.post(`${OS}/monitor_definitions`, { ...definitionBody('X1'), metrics: [] }), 400, 'metrics');
      expectIbmError(await api.post(`${OS}/monitor_definitions`, { ...definitionBody('X2'), tags: undefined }), 400, 'tags');
      expectIbmError(await api.post(`${OS}/monitor_definitions`, { ...definitionBody('!!!') }), 400, 'name');
      expectIbmError(await api.post(`${OS}/monitor_definitions`, { name: 'X3', tags: [], metrics: [{ name: 'Dice' }, { name: 'dice' }] }), 400, "metrics[1].name: 'dice' and 'Dice' both give the id 'dice'");
      expectIbmError(await api.post(`${OS}/monitor_definitions`, { name: 'X4', tags: [], metrics: [{ name: 'a', thresholds: [{ type: 'middle_limit', default: 1 }] }] }), 400, 'metrics[0].thresholds[0].type');
      expectIbmError(await api.post(`${OS}/monitor_definitions`, { name: 'X5', tags: [], metrics: [{ name: 'a' }], monitor_runtime: { type: 'lambda' } }), 400, 'monitor_runtime.type');
      expectIbmError(await api.get(`${OS}/monitor_definitions/nope`), 404, "monitor definition 'nope'");
    });

    it('lists with name (comma list) and type filters', async () => {
      const names = async (q: string) => MonitorDefinitionCollection.parse(expectStatus(await api.get(`${OS}/monitor_definitions${q}`), 200)).monitor_definitions.map((d) => d.metadata.id);
      expect(await names('?name=Generic Metrics v5')).toEqual(['generic_metrics_v5']);
      expect(await names(`?name=${encodeURIComponent('Generic Metrics v5,Segmentation Metrics')}`)).toEqual(['generic_metrics_v5', 'segmentation_metrics']);
      expect(await names('?type=service')).toEqual([]);
      expect(await names('?type=user')).toEqual(expect.arrayContaining(['generic_metrics_v5', 'segmentation_metrics']));
    });

    it('replaces with PUT and patches with JSON Patch, keeping the id and re-deriving metric ids', async () => {
      const created = expectStatus(await api.post(`${OS}/monitor_definitions`, { name: 'Editable', tags: [], metrics: [{ name: 'Alpha' }] }), 201);
      const path = `${OS}/monitor_definitions/${created.metadata.id}`;
      const put = expectStatus(await api.put(path, { name: 'Editable', tags: [], metrics: [{ name: 'Alpha' }, { name: 'Beta Value' }], description: 'two' }), 200);
      expect(put.entity.metrics.map((m: any) => m.id)).toEqual(['alpha', 'beta_value']);
      const patched = expectStatus(
        await api.patch(path, [{ op: 'add', path: '/metrics/-', value: { name: 'Gamma', thresholds: [{ type: 'upper_limit', default: 3 }] } }, { op: 'replace', path: '/description', value: 'three' }], {
          headers: { 'content-type': 'application/json-patch+json' },
        }),
        200,
      );
      expect(patched.metadata.id).toBe('editable');
      expect(patched.entity.metrics.map((m: any) => m.id)).toEqual(['alpha', 'beta_value', 'gamma']);
      expect(patched.entity.description).toBe('three');
      expectIbmError(await api.patch(path, [{ op: 'replace', path: '/metrics/0/name', value: 7 }]), 400, 'metrics[0].name');
      expectIbmError(await api.patch(path, [{ op: 'replace', path: '/name', value: 'Generic Metrics v5' }]), 409, 'already exists');
      expectIbmError(await api.put(path, { name: 'Editable', tags: [] }), 400, 'metrics');
    });

    it('refuses to delete a definition in use unless force=true, and can refuse reusing a deleted id', async () => {
      const def = expectStatus(await api.post(`${OS}/monitor_definitions`, { name: 'Short Lived', tags: [], metrics: [{ name: 'm' }] }), 201);
      const sub = await createSubscription(api, providerId);
      const mi = await createInstance(api, { monitor_definition_id: def.metadata.id, target: { target_type: 'subscription', target_id: sub.metadata.id } });
      expectIbmError(await api.delete(`${OS}/monitor_definitions/short_lived`), 409, mi.metadata.id);
      // A definition change that would orphan an instance threshold is refused too.
      expectStatus(await api.patch(`${OS}/monitor_instances/${mi.metadata.id}`, [{ op: 'add', path: '/thresholds', value: [{ metric_id: 'm', type: 'lower_limit', value: 1 }] }]), 200);
      expectIbmError(await api.put(`${OS}/monitor_definitions/short_lived`, { name: 'Short Lived', tags: [], metrics: [{ name: 'n' }] }), 409, "metric 'm'");
      expect((await api.delete(`${OS}/monitor_definitions/short_lived?force=true`)).status).toBe(202);
      expectIbmError(await api.get(`${OS}/monitor_instances/${mi.metadata.id}`), 404);
      // By default the id can be used again (configurable: CPD 4.5.3 refused it).
      expect((await api.post(`${OS}/monitor_definitions`, { name: 'Short Lived', tags: [], metrics: [{ name: 'm' }] })).status).toBe(201);
      expect((await api.delete(`${OS}/monitor_definitions/short_lived`)).status).toBe(202);

      const strict = await startTestSandbox({ modules: [openscaleModule], config: { services: { openscale: { rejectReusedDefinitionIds: true } } } });
      try {
        expectStatus(await strict.api.post(`${OS}/monitor_definitions`, definitionBody('Generic Metrics')), 201);
        expect((await strict.api.delete(`${OS}/monitor_definitions/generic_metrics`)).status).toBe(202);
        expectIbmError(await strict.api.post(`${OS}/monitor_definitions`, definitionBody('Generic Metrics')), 409, 'cannot be reused');
        expect((await strict.api.post(`${OS}/monitor_definitions`, definitionBody('Generic Metrics v2'))).status).toBe(201);
      } finally {
        await strict.close();
      }
    });
  });

  describe('monitor instances', () => {
    it('creates an instance with parameters and thresholds from the runbook YAML forms, one per definition and target', async () => {
      const sub = await createSubscription(api, providerId);
      const thresholds = toInstanceThresholds({ num_images_total_predicted: { threshold: [10, 'lower'] } });
      const body = {
        data_mart_id: DM,
        monitor_definition_id: 'generic_metrics_v5',
        target: { target_type: 'subscription', target_id: sub.metadata.id },
        parameters: { custom_metrics_provider_id: systemId, custom_metrics_wait_time: 360 },
        thresholds,
        schedule: { repeat_interval: 1, repeat_unit: 'hour' },
      };
      const mi = MonitorInstance.parse(expectStatus(await api.post(`${OS}/monitor_instances?skip_scheduler=true`, body), 201));
      expect(mi.entity).toMatchObject({ ...body, status: { state: 'active' } });
      const dup = await api.post(`${OS}/monitor_instances`, body);
      expectIbmError(dup, 409, mi.metadata.id);
      // The same definition on another subscription is fine.
      const sub2 = await createSubscription(api, providerId);
      expectStatus(await api.post(`${OS}/monitor_instances`, { ...body, target: { target_type: 'subscription', target_id: sub2.metadata.id } }), 201);
    });

    it('rejects unknown references and thresholds of metrics the definition lacks, naming them', async () => {
      const sub = await createSubscription(api, providerId);
      const base = { data_mart_id: DM, monitor_definition_id: 'generic_metrics_v5', target: { target_type: 'subscription', target_id: sub.metadata.id } };
      expectIbmError(await api.post(`${OS}/monitor_instances`, { ...base, monitor_definition_id: 'no_such_monitor' }), 400, "monitor_definition_id: monitor definition 'no_such_monitor'");
      expectIbmError(await api.post(`${OS}/monitor_instances`, { ...base, target: { target_type: 'subscription', target_id: 'ghost' } }), 400, "target.target_id: subscription 'ghost'");
      expectIbmError(await api.post(`${OS}/monitor_instances`, { ...base, target: { target_type: 'galaxy', target_id: 'x' } }), 400, 'target.target_type');
      expectIbmError(await api.post(`${OS}/monitor_instances`, { ...base, data_mart_id: 'other' }), 400, 'data_mart_id');
      expectIbmError(
        await api.post(`${OS}/monitor_instances`, { ...base, thresholds: [{ metric_id: 'dice', type: 'lower_limit', value: 1 }] }),
        400,
        "thresholds[0].metric_id: 'dice' is not a metric of monitor definition 'generic_metrics_v5'",
      );
      expectIbmError(
        await api.post(`${OS}/monitor_instances`, { ...base, thresholds: [{ metric_id: 'num_images_total_predicted', type: 'lower_limit', value: 1 }, { metric_id: 'num_images_total_predicted', type: 'lower_limit', value: 2 }] }),
        400,
        'thresholds[1]',
      );
      const webhook = await createSystem(api, { name: 'Not a provider', type: 'webhook', description: '', credentials: {} });
      expectIbmError(await api.post(`${OS}/monitor_instances`, { ...base, parameters: { custom_metrics_provider_id: webhook.metadata.id } }), 400, 'parameters.custom_metrics_provider_id');
      expectIbmError(await api.post(`${OS}/monitor_instances`, { ...base, parameters: { custom_metrics_wait_time: -5 } }), 400, 'parameters.custom_metrics_wait_time');
      expectIbmError(await api.get(`${OS}/monitor_instances/nope`), 404, "monitor instance 'nope'");
    });

    it('lists with data_mart_id, monitor_definition_id and target filters', async () => {
      const sub = await createSubscription(api, providerId);
      const mi = await createInstance(api, { monitor_definition_id: 'segmentation_metrics', target: { target_type: 'subscription', target_id: sub.metadata.id } });
      const ids = async (q: string) => MonitorInstanceCollection.parse(expectStatus(await api.get(`${OS}/monitor_instances?${q}`), 200)).monitor_instances.map((m) => m.metadata.id);
      expect(await ids(`target.target_id=${sub.metadata.id}`)).toEqual([mi.metadata.id]);
      expect(await ids(`target.target_id=${sub.metadata.id}&monitor_definition_id=generic_metrics_v5`)).toEqual([]);
      expect(await ids(`target.target_id=${sub.metadata.id}&monitor_definition_id=generic_metrics_v5,segmentation_metrics&target.target_type=subscription&data_mart_id=${DM}`)).toEqual([mi.metadata.id]);
      expect(await ids('target.target_type=data_mart')).toEqual([]);
    });

    it('patches parameters the runbook way (update_metadata_only=true) and keeps identity fields fixed', async () => {
      const sub = await createSubscription(api, providerId);
      const mi = await createInstance(api, {
        monitor_definition_id: 'generic_metrics_v5',
        target: { target_type: 'subscription', target_id: sub.metadata.id },
        parameters: { custom_metrics_provider_id: systemId, custom_metrics_wait_time: 360, run_details: { run_id: 'old', run_status: 'finished' } },
      });
      const path = `${OS}/monitor_instances/${mi.metadata.id}`;
      const value = { custom_metrics_provider_id: systemId, custom_metrics_wait_time: 120 };
      const patched = expectStatus(await api.patch(`${path}?update_metadata_only=true`, [{ op: 'replace', path: '/parameters', value }]), 200);
      expect(patched.entity.parameters).toEqual(value); // wipes run_details, as the predecessor's update did
      expect(patched.entity.status.state).toBe('active');
      const withThresholds = expectStatus(await api.patch(path, [{ op: 'add', path: '/thresholds', value: [{ metric_id: 'num_images_recent_predicted', type: 'upper_limit', value: 500 }] }]), 200);
      expect(withThresholds.entity.thresholds).toEqual([{ metric_id: 'num_images_recent_predicted', type: 'upper_limit', value: 500 }]);
      expectIbmError(await api.patch(path, [{ op: 'replace', path: '/monitor_definition_id', value: 'segmentation_metrics' }]), 400, 'monitor_definition_id: cannot be changed');
      expectIbmError(await api.patch(path, [{ op: 'replace', path: '/target/target_id', value: 'other' }]), 400, 'target: cannot be changed');
      expectIbmError(await api.patch(path, [{ op: 'add', path: '/thresholds/0', value: { metric_id: 'nope', type: 'lower_limit', value: 1 } }]), 400, "thresholds[0].metric_id: 'nope'");
      expectIbmError(await api.patch(path, [{ op: 'replace', path: '/parameters/custom_metrics_provider_id', value: 'ghost' }]), 400, 'parameters.custom_metrics_provider_id');
      expectIbmError(await api.patch(`${path}?update_metadata_only=perhaps`, []), 400, 'query.update_metadata_only');
    });

    it('deletes instances (202), with their measurements only when force=true, and with their subscription', async () => {
      const sub = await createSubscription(api, providerId);
      const mi = await createInstance(api, { monitor_definition_id: 'generic_metrics_v5', target: { target_type: 'subscription', target_id: sub.metadata.id } });
      const post = await api.post(`${OS}/monitor_instances/${mi.metadata.id}/measurements`, [{ timestamp: new Date().toISOString(), metrics: [{ num_images_total_predicted: 1 }] }]);
      expectStatus(post, 202);
      const query = `${OS}/measurements?target_id=${sub.metadata.id}&target_type=subscription`;
      expect((await api.delete(`${OS}/monitor_instances/${mi.metadata.id}`)).status).toBe(202);
      expectIbmError(await api.get(`${OS}/monitor_instances/${mi.metadata.id}`), 404);
      expect(expectStatus(await api.get(query), 200).measurements).toHaveLength(1);

      const mi2 = await createInstance(api, { monitor_definition_id: 'generic_metrics_v5', target: { target_type: 'subscription', target_id: sub.metadata.id } });
      expectStatus(await api.post(`${OS}/monitor_instances/${mi2.metadata.id}/measurements`, [{ timestamp: new Date().toISOString(), metrics: [{ num_images_total_predicted: 2 }] }]), 202);
      expect((await api.delete(`${OS}/subscriptions/${sub.metadata.id}?force=true`)).status).toBe(202);
      expectIbmError(await api.get(`${OS}/monitor_instances/${mi2.metadata.id}`), 404);
      const left = expectStatus(await api.get(query), 200).measurements;
      expect(left.map((m: any) => m.entity.monitor_instance_id)).toEqual([mi.metadata.id]);
    });
  });

  describe('measurements', () => {
    let mi: any;
    let sub: any;
    const T = (minute: number) => `2024-05-01T10:${String(minute).padStart(2, '0')}:00.000000Z`;

    beforeAll(async () => {
      sub = await createSubscription(api, providerId);
      mi = await createInstance(api, {
        monitor_definition_id: 'generic_metrics_v5',
        target: { target_type: 'subscription', target_id: sub.metadata.id },
        thresholds: [
          { metric_id: 'num_images_total_ground_truth', type: 'lower_limit', value: 2 },
          { metric_id: 'num_images_total_ground_truth', type: 'upper_limit', value: 100 },
        ],
      });
    });
    const mpath = () => `${OS}/monitor_instances/${mi.metadata.id}/measurements`;

    it('stores posted metrics by id with limits (instance override, else definition default) and counts issues', async () => {
      const res = await api.post(mpath(), [
        { timestamp: T(1), run_id: 'run-a', metrics: [{ num_images_total_ground_truth: 1, 'Num Images Recent Predicted': 50 }], sources: [{ id: 'src', type: 'log', data: { note: 1 } }] },
        { timestamp: T(2), run_id: 'run-b', metrics: [{ num_images_total_ground_truth: 101, num_images_total_predicted: 39 }, { num_images_recent_predicted: 1001 }] },
      ]);
      const created = MeasurementCreateResponse.parse(expectStatus(res, 202));
      expect(created).toHaveLength(2);
      expect(created[0]!.entity.values).toEqual([
        {
          metrics: [
            { id: 'num_images_total_ground_truth', value: 1, lower_limit: 2, upper_limit: 100 },
            { id: 'num_images_recent_predicted', value: 50, lower_limit: 40, upper_limit: 1000 },
          ],
          tags: [],
        },
      ]);
      expect(created[0]!.entity.issue_count).toBe(1); // 1 < 2
      expect(created[1]!.entity.issue_count).toBe(3); // 101 > 100, 39 < 40, 1001 > 1000
      expect(created[1]!.entity.values).toHaveLength(2);
      expect(created[0]!.entity).toMatchObject({ run_id: 'run-a', monitor_instance_id: mi.metadata.id, monitor_definition_id: 'generic_metrics_v5', target: { target_type: 'subscription', target_id: sub.metadata.id } });
      const one = Measurement.parse(expectStatus(await api.get(`${mpath()}/${created[0]!.metadata.id}`), 200));
      expect(one.entity.sources).toEqual([{ id: 'src', type: 'log', data: { note: 1 } }]);
      const filtered = expectStatus(await api.get(`${mpath()}/${created[0]!.metadata.id}?metric_id=num_images_recent_predicted`), 200);
      expect(filtered.entity.values[0].metrics.map((m: any) => m.id)).toEqual(['num_images_recent_predicted']);
      expectIbmError(await api.get(`${mpath()}/nope`), 404, "measurement 'nope'");
    });

    it('a tagged definition takes tag values next to the metrics', async () => {
      const tsub = await createSubscription(api, providerId);
      const tmi = await createInstance(api, { monitor_definition_id: 'tagged_monitor', target: { target_type: 'subscription', target_id: tsub.metadata.id } });
      const res = await api.post(`${OS}/monitor_instances/${tmi.metadata.id}/measurements`, [{ timestamp: T(5), metrics: [{ Score: 0.5, 'Image Set': 'validation' }] }]);
      expect(expectStatus(res, 202)[0].entity.values).toEqual([{ metrics: [{ id: 'score', value: 0.5 }], tags: [{ id: 'image_set', value: 'validation' }] }]);
    });

    it('rejects unknown metrics, non-numeric values and malformed bodies, naming the field, and stores nothing', async () => {
      const count = async () => expectStatus(await api.get(`${mpath()}?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z`), 200).total_count;
      const before = await count();
      expectIbmError(
        await api.post(mpath(), [{ timestamp: T(3), metrics: [{ num_images_total_predicted: 1 }] }, { timestamp: T(3), metrics: [{ dice: 1 }] }]),
        400,
        "[1].metrics[0].dice: 'dice' is not a metric of monitor definition 'generic_metrics_v5'",
      );
      expectIbmError(await api.post(mpath(), [{ timestamp: T(3), metrics: [{ num_images_total_predicted: 'many' }] }]), 400, '[0].metrics[0].num_images_total_predicted: expected a number');
      expectIbmError(await api.post(mpath(), [{ timestamp: T(3), metrics: [{ num_images_total_predicted: true }] }]), 400, '[0].metrics[0].num_images_total_predicted');
      expectIbmError(await api.post(mpath(), [{ timestamp: 'yesterday', metrics: [{ num_images_total_predicted: 1 }] }]), 400, '[0].timestamp');
      expectIbmError(await api.post(mpath(), [{ timestamp: T(3), metrics: [] }]), 400, '[0].metrics');
      expectIbmError(await api.post(mpath(), []), 400, 'body');
      expectIbmError(await api.post(mpath(), [{ timestamp: T(3), metrics: [{ num_images_recent_predicted: 1, 'Num Images Recent Predicted': 2 }] }]), 400, 'twice');
      expectIbmError(await api.post(`${OS}/monitor_instances/nope/measurements`, [{ timestamp: T(3), metrics: [{ a: 1 }] }]), 404, 'monitor instance');
      expect(await count()).toBe(before);
    });

    it('queries an instance by time range or run id, newest first, with limit and offset', async () => {
      expectStatus(
        await api.post(mpath(), [
          { timestamp: T(10), run_id: 'run-c', metrics: [{ num_images_total_predicted: 10 }] },
          { timestamp: T(20), run_id: 'run-c', metrics: [{ num_images_total_predicted: 20 }] },
          { timestamp: T(30), run_id: 'run-d', metrics: [{ num_images_total_predicted: 30 }] },
        ]),
        202,
      );
      const values = (list: any) => list.measurements.map((m: any) => m.entity.values[0].metrics[0].value);
      const range = MeasurementCollection.parse(expectStatus(await api.get(`${mpath()}?start=${T(10)}&end=${T(30)}`), 200));
      expect(values(range)).toEqual([30, 20, 10]);
      expect(range).toMatchObject({ start: T(10), end: T(30), limit: 100, offset: 0, total_count: 3 });
      const paged = expectStatus(await api.get(`${mpath()}?start=${T(10)}&end=${T(30)}&limit=1&offset=1`), 200);
      expect(values(paged)).toEqual([20]);
      expect(values(expectStatus(await api.get(`${mpath()}?run_id=run-c`), 200))).toEqual([20, 10]);
      expect(values(expectStatus(await api.get(`${mpath()}?run_id=run-c,run-d`), 200))).toEqual([30, 20, 10]);
      expect(values(expectStatus(await api.get(`${mpath()}?run_id=run-c&start=${T(15)}&end=${T(25)}`), 200))).toEqual([20]);
      expectIbmError(await api.get(mpath()), 400, 'query.start and query.end: required unless query.run_id');
      expectIbmError(await api.get(`${mpath()}?start=${T(1)}`), 400, 'query.end');
      expectIbmError(await api.get(`${mpath()}?start=soon&end=${T(1)}`), 400, 'query.start: expected an RFC 3339');
      expectIbmError(await api.get(`${mpath()}?start=${T(30)}&end=${T(10)}`), 400, 'query.start: must not be after');
      expectIbmError(await api.get(`${mpath()}?run_id=run-c&limit=5000`), 400, 'query.limit');
      expectIbmError(await api.get(`${mpath()}?run_id=run-c&filter=tag:exists`), 400, 'query.filter');
    });

    it('queries across instances by target and definition with recent_count, time range and format', async () => {
      const q = `${OS}/measurements?target_id=${sub.metadata.id}&target_type=subscription&monitor_definition_id=generic_metrics_v5`;
      const latest = expectStatus(await api.get(`${q}&recent_count=1`), 200);
      expect(latest.measurements).toHaveLength(1);
      expect(latest.measurements[0].entity.timestamp).toBe(T(30));
      expect(latest.measurements[0].entity.sources).toBeUndefined();
      const two = expectStatus(await api.get(`${q}&recent_count=2`), 200);
      expect(two.measurements.map((m: any) => m.entity.timestamp)).toEqual([T(30), T(20)]);
      const window = expectStatus(await api.get(`${q}&start=${T(1)}&end=${T(2)}&format=full`), 200);
      expect(window.measurements.map((m: any) => m.entity.timestamp)).toEqual([T(2), T(1)]);
      expect(window.measurements[1].entity.sources).toEqual([{ id: 'src', type: 'log', data: { note: 1 } }]);
      expect(expectStatus(await api.get(`${OS}/measurements?target_id=${sub.metadata.id}&monitor_definition_id=segmentation_metrics`), 200).measurements).toEqual([]);
      expectIbmError(await api.get(`${q}&recent_count=0`), 400, 'query.recent_count');
      expectIbmError(await api.get(`${q}&format=tiny`), 400, 'query.format');
    });
  });
});

describe('OpenScale preparing states', () => {
  it('keeps instances preparing for readyDelayMs, refuses runs meanwhile, and reconfigures on a full PATCH', async () => {
    const sb = await startTestSandbox({ modules: [openscaleModule], config: { services: { openscale: { readyDelayMs: 60_000 } } } });
    try {
      const api = sb.api;
      const sp = await createProvider(api);
      expect(sp.entity.status.state).toBe('preparing');
      const sub = await createSubscription(api, sp.metadata.id); // a preparing provider already takes subscriptions
      expectStatus(await api.post(`${OS}/monitor_definitions`, { ...definitionBody('Generic Metrics'), metrics: toDefinitionMetrics(GENERIC_MONITOR) }), 201);
      const mi = await createInstance(api, { monitor_definition_id: 'generic_metrics', target: { target_type: 'subscription', target_id: sub.metadata.id } });
      expect(mi.entity.status.state).toBe('preparing');
      expectIbmError(await api.post(`${OS}/monitor_instances/${mi.metadata.id}/runs`, {}), 409, 'preparing');
    } finally {
      await sb.close();
    }
    const quick = await startTestSandbox({ modules: [openscaleModule], config: { services: { openscale: { readyDelayMs: 300 } } } });
    try {
      const api = quick.api;
      const sp = await createProvider(api);
      const sub = await createSubscription(api, sp.metadata.id);
      expectStatus(await api.post(`${OS}/monitor_definitions`, definitionBody('Generic Metrics')), 201);
      const mi = await createInstance(api, { monitor_definition_id: 'generic_metrics', target: { target_type: 'subscription', target_id: sub.metadata.id } });
      const path = `${OS}/monitor_instances/${mi.metadata.id}`;
      await pollUntil(api, path, (j) => j.entity.status.state === 'active');
      const metadataOnly = expectStatus(await api.patch(`${path}?update_metadata_only=true`, [{ op: 'add', path: '/parameters', value: { a: 1 } }]), 200);
      expect(metadataOnly.entity.status.state).toBe('active');
      const full = expectStatus(await api.patch(path, [{ op: 'replace', path: '/parameters', value: { a: 2 } }]), 200);
      expect(full.entity.status.state).toBe('preparing');
      await pollUntil(api, path, (j) => j.entity.status.state === 'active');
    } finally {
      await quick.close();
    }
  });
});
