import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DataMart,
  DataMartCollection,
  IntegratedSystem,
  IntegratedSystemCollection,
  ServiceProvider,
  ServiceProviderCollection,
  Subscription,
  SubscriptionCollection,
} from '../../src/lib/contracts/openscale';
import { SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import { openscaleModule } from '../../src/sandbox/services/openscale';
import { expectIbmError, startTestSandbox, type Api, type TestSandbox } from './helpers';
import { cmpBody, createProvider, createSubscription, createSystem, DM, expectStatus, OS, pollUntil, subscriptionBody } from './openscale-helpers';

const PATCH_JSON = { headers: { 'content-type': 'application/json-patch+json' } };

describe('OpenScale resources: data marts, service providers, subscriptions, integrated systems', () => {
  let sb: TestSandbox;
  let api: Api;
  beforeAll(async () => {
    sb = await startTestSandbox({
      modules: [openscaleModule],
      config: { services: { openscale: { readyDelayMs: 250, instanceIds: ['11111111-2222-3333-4444-555555555555'] } } },
    });
    api = sb.api;
  });
  afterAll(async () => {
    await sb.close();
  });

  describe('service instances and data marts', () => {
    it('has the default data mart, whose id is the instance id, and one per configured instance', async () => {
      const list = DataMartCollection.parse(expectStatus(await api.get(`${OS}/data_marts?version=2024-01-01`), 200));
      expect(list.data_marts.map((d) => d.metadata.id)).toEqual([DM]);
      const dm = list.data_marts[0]!;
      expect(dm.entity.status.state).toBe('active');
      expect(dm.metadata.url).toBe(`${sb.url}${OS}/data_marts/${DM}`);
      expect(Date.parse(dm.metadata.created_at!)).not.toBeNaN();
      const other = '11111111-2222-3333-4444-555555555555';
      const second = expectStatus(await api.get(`/openscale/${other}/v2/data_marts/${other}`), 200);
      expect(DataMart.parse(second).metadata.id).toBe(other);
      // Instances are separate: the other instance's data mart is not under the default one.
      expectIbmError(await api.get(`${OS}/data_marts/${other}`), 404, 'data mart');
    });

    it('answers 404 in the IBM envelope for an unknown service instance, and 401 without a token', async () => {
      expectIbmError(await api.get('/openscale/not-an-instance/v2/data_marts'), 404, "OpenScale service instance 'not-an-instance'");
      expectIbmError(await api.get('/openscale/not-an-instance/v2/subscriptions'), 404, 'not-an-instance');
      expectIbmError(await api.get(`${OS}/data_marts`, { token: null }), 401);
      expectIbmError(await api.delete(`${OS}/data_marts/${DM}`), 405);
    });

    it('patches a data mart with JSON Patch and validates the result', async () => {
      const res = await api.patch(`${OS}/data_marts/${DM}`, [{ op: 'replace', path: '/description', value: 'patched' }], PATCH_JSON);
      expect(DataMart.parse(expectStatus(res, 200)).entity.description).toBe('patched');
      expect(expectStatus(await api.get(`${OS}/data_marts/${DM}`), 200).entity.description).toBe('patched');
      expect(expectStatus(await api.get(`${OS}/data_marts/${DM}`), 200).metadata.modified_by).toBe(SANDBOX_DEMO_USER.username);
      expectIbmError(await api.patch(`${OS}/data_marts/${DM}`, [{ op: 'replace', path: '/internal_database', value: 'yes' }]), 400, 'internal_database');
      expectIbmError(await api.patch(`${OS}/data_marts/${DM}`, { op: 'replace' }), 400, 'expected array');
    });
  });

  describe('service providers', () => {
    it('creates a provider preparing → active, never echoing its credentials', async () => {
      const res = await api.post(`${OS}/service_providers`, {
        name: 'WML provider',
        service_type: 'watson_machine_learning',
        operational_space_id: 'production',
        credentials: { apikey: 'very-secret-key', url: 'https://wml.example' },
      });
      const sp = ServiceProvider.parse(expectStatus(res, 201));
      expect(sp.entity.status.state).toBe('preparing');
      expect(sp.entity.credentials).toEqual({ secret_id: expect.any(String) });
      expect(res.text).not.toContain('very-secret-key');
      const active = await pollUntil(api, `${OS}/service_providers/${sp.metadata.id}`, (j) => j.entity.status.state === 'active');
      expect(active.entity.name).toBe('WML provider');
      expect(JSON.stringify(active)).not.toContain('very-secret-key');
    });

    it('allows duplicate names (OpenScale does not make them unique)', async () => {
      const a = await createProvider(api, 'Twin provider');
      const b = await createProvider(api, 'Twin provider');
      expect(a.metadata.id).not.toBe(b.metadata.id);
    });

    it('lists with service_type filters (comma lists) and hides deleted providers unless show_deleted=true', async () => {
      const sp = await createProvider(api, 'To be deleted');
      const custom = ServiceProviderCollection.parse(expectStatus(await api.get(`${OS}/service_providers?service_type=custom_machine_learning`), 200));
      expect(custom.service_providers.every((p) => p.entity.service_type === 'custom_machine_learning')).toBe(true);
      expect(custom.service_providers.map((p) => p.metadata.id)).toContain(sp.metadata.id);
      const both = expectStatus(await api.get(`${OS}/service_providers?service_type=custom_machine_learning,watson_machine_learning`), 200);
      expect(new Set(both.service_providers.map((p: any) => p.entity.service_type))).toEqual(new Set(['custom_machine_learning', 'watson_machine_learning']));
      expect(expectStatus(await api.get(`${OS}/service_providers?operational_space_id=development`), 200).service_providers).toEqual([]);

      expect((await api.delete(`${OS}/service_providers/${sp.metadata.id}`)).status).toBe(202);
      const visible = expectStatus(await api.get(`${OS}/service_providers`), 200).service_providers.map((p: any) => p.metadata.id);
      expect(visible).not.toContain(sp.metadata.id);
      const all = expectStatus(await api.get(`${OS}/service_providers?show_deleted=true`), 200).service_providers;
      const deleted = all.find((p: any) => p.metadata.id === sp.metadata.id);
      expect(deleted.entity.status).toMatchObject({ state: 'pending_delete', deleted_at: expect.any(String) });
      expectIbmError(await api.get(`${OS}/service_providers/${sp.metadata.id}`), 404, 'service provider');
      expectIbmError(await api.delete(`${OS}/service_providers/${sp.metadata.id}`), 404);
      expectIbmError(await api.get(`${OS}/service_providers?show_deleted=maybe`), 400, 'query.show_deleted');
      // A deleted provider cannot take new subscriptions.
      expectIbmError(await api.post(`${OS}/subscriptions`, subscriptionBody(sp.metadata.id)), 400, 'service_provider_id');
    });

    it('validates create bodies naming the field', async () => {
      expectIbmError(await api.post(`${OS}/service_providers`, { service_type: 'custom_machine_learning', credentials: {} }), 400, 'name');
      expectIbmError(await api.post(`${OS}/service_providers`, { name: 'x', service_type: 'my_own_ml', credentials: {} }), 400, 'service_type');
      expectIbmError(await api.post(`${OS}/service_providers`, { name: 'x', service_type: 'custom_machine_learning' }), 400, 'credentials');
      expectIbmError(await api.get(`${OS}/service_providers/nope`), 404, "service provider 'nope'");
    });

    it('patches a provider, keeping secrets unless replaced, and re-validates', async () => {
      const res = await api.post(`${OS}/service_providers`, { name: 'Patch me', service_type: 'watson_machine_learning', credentials: { apikey: 'k1-secret' } });
      const sp = expectStatus(res, 201);
      const id = sp.metadata.id;
      const renamed = expectStatus(await api.patch(`${OS}/service_providers/${id}`, [{ op: 'replace', path: '/name', value: 'Patched' }, { op: 'add', path: '/description', value: 'd' }]), 200);
      expect(renamed.entity).toMatchObject({ name: 'Patched', description: 'd', credentials: { secret_id: sp.entity.credentials.secret_id } });
      const rotated = expectStatus(await api.patch(`${OS}/service_providers/${id}`, [{ op: 'replace', path: '/credentials', value: { apikey: 'k2-secret' } }]), 200);
      expect(rotated.entity.credentials.secret_id).not.toBe(sp.entity.credentials.secret_id);
      expect(JSON.stringify(rotated)).not.toContain('k2-secret');
      expectIbmError(await api.patch(`${OS}/service_providers/${id}`, [{ op: 'remove', path: '/name' }]), 400, 'name');
      expectIbmError(await api.patch(`${OS}/service_providers/${id}`, [{ op: 'replace', path: '/service_type', value: 'other' }]), 400, 'service_type');
      expectIbmError(await api.patch(`${OS}/service_providers/${id}`, [{ op: 'test', path: '/name', value: 'Wrong' }]), 400, 'test failed');
      // A failed patch changes nothing, even when earlier operations applied.
      expectIbmError(await api.patch(`${OS}/service_providers/${id}`, [{ op: 'replace', path: '/name', value: 'Half' }, { op: 'remove', path: '/missing' }]), 400, 'patch[1]');
      expect(expectStatus(await api.get(`${OS}/service_providers/${id}`), 200).entity.name).toBe('Patched');
    });
  });

  describe('subscriptions', () => {
    let providerId: string;
    beforeAll(async () => {
      providerId = (await createProvider(api)).metadata.id;
    });

    it('creates the runbook dummy subscription, preparing → active, and gets it', async () => {
      const body = subscriptionBody(providerId, 'deepliif-edi Monitor');
      const sub = Subscription.parse(expectStatus(await api.post(`${OS}/subscriptions`, body), 201));
      expect(sub.entity.status.state).toBe('preparing');
      expect(sub.entity).toMatchObject({ data_mart_id: DM, service_provider_id: providerId, asset: body.asset, deployment: body.deployment, asset_properties: body.asset_properties });
      const active = await pollUntil(api, `${OS}/subscriptions/${sub.metadata.id}`, (j) => j.entity.status.state === 'active');
      expect(active.entity.asset.name).toBe('deepliif-edi Monitor');
    });

    it('filters by data mart, provider, asset and deployment ids (comma lists) and provider fields', async () => {
      const other = (await createProvider(api, 'Other provider')).metadata.id;
      const a = await createSubscription(api, providerId);
      const b = await createSubscription(api, other);
      const ids = async (query: string) => expectStatus(await api.get(`${OS}/subscriptions?${query}`), 200).subscriptions.map((s: any) => s.metadata.id);
      expect(await ids(`service_provider_id=${other}`)).toEqual([b.metadata.id]);
      expect(await ids(`asset.asset_id=${a.entity.asset.asset_id}`)).toEqual([a.metadata.id]);
      expect(await ids(`deployment.deployment_id=${b.entity.deployment.deployment_id},${a.entity.deployment.deployment_id}`)).toEqual([a.metadata.id, b.metadata.id]);
      expect(await ids(`data_mart_id=${DM}&asset.asset_id=${b.entity.asset.asset_id}`)).toEqual([b.metadata.id]);
      expect(await ids('data_mart_id=elsewhere')).toEqual([]);
      const production = await ids(`service_provider.operational_space_id=production&service_provider_id=${providerId},${other}`);
      expect(production).toEqual(expect.arrayContaining([a.metadata.id, b.metadata.id]));
      expect(production).toEqual(await ids(`service_provider_id=${providerId},${other}`));
      expect(await ids(`service_provider.operational_space_id=pre_production&service_provider_id=${other}`)).toEqual([]);
      SubscriptionCollection.parse(expectStatus(await api.get(`${OS}/subscriptions`), 200));
    });

    it('rejects unknown references and invalid bodies with 400 naming the field', async () => {
      expectIbmError(await api.post(`${OS}/subscriptions`, subscriptionBody('no-such-provider')), 400, "service_provider_id: service provider 'no-such-provider'");
      expectIbmError(await api.post(`${OS}/subscriptions`, { ...subscriptionBody(providerId), data_mart_id: 'other-dm' }), 400, 'data_mart_id');
      const noAssetId = subscriptionBody(providerId) as any;
      delete noAssetId.asset.asset_id;
      expectIbmError(await api.post(`${OS}/subscriptions`, noAssetId), 400, 'asset.asset_id');
      expectIbmError(await api.post(`${OS}/subscriptions`, { ...subscriptionBody(providerId), deployment: { deployment_id: 'x', name: 'x', deployment_type: 'streaming' } }), 400, 'deployment.deployment_type');
      expectIbmError(await api.get(`${OS}/subscriptions/nope`), 404, "subscription 'nope'");
    });

    it('patches (application/json) and deletes with 202', async () => {
      const sub = await createSubscription(api, providerId);
      const path = `${OS}/subscriptions/${sub.metadata.id}`;
      const patched = expectStatus(await api.patch(path, [{ op: 'replace', path: '/asset/name', value: 'renamed Monitor' }]), 200);
      expect(patched.entity.asset.name).toBe('renamed Monitor');
      expectIbmError(await api.patch(path, [{ op: 'replace', path: '/service_provider_id', value: 'ghost' }]), 400, 'service_provider_id');
      expectIbmError(await api.patch(path, [{ op: 'replace', path: '/asset/asset_type', value: 'spreadsheet' }]), 400, 'asset.asset_type');
      const del = await api.delete(path);
      expect(del.status).toBe(202);
      expectIbmError(await api.get(path), 404);
      expectIbmError(await api.delete(path), 404);
    });
  });

  describe('integrated systems', () => {
    it('registers a custom metrics provider with its credentials redacted in every answer', async () => {
      const body = cmpBody(sb.url, 'http://127.0.0.1:9/ml/v4/deployments/x/predictions?version=2024-05-01');
      const res = await api.post(`${OS}/integrated_systems`, body);
      const sys = IntegratedSystem.parse(expectStatus(res, 201));
      expect(res.text).not.toContain(SANDBOX_DEMO_USER.apiKey);
      expect(sys.entity).toMatchObject({ name: body.name, type: 'custom_metrics_provider', description: body.description, connection: body.connection });
      expect(sys.entity.credentials).toEqual({
        auth_type: 'bearer',
        secret_id: expect.any(String),
        token_info: { ...body.credentials.token_info, payload: { username: SANDBOX_DEMO_USER.username, api_key: '***' } },
      });
      const got = await api.get(`${OS}/integrated_systems/${sys.metadata.id}`);
      expect(got.text).not.toContain(SANDBOX_DEMO_USER.apiKey);
      const listed = await api.get(`${OS}/integrated_systems?type=custom_metrics_provider`);
      expect(listed.text).not.toContain(SANDBOX_DEMO_USER.apiKey);
      expect(IntegratedSystemCollection.parse(listed.json).integrated_systems.map((s) => s.metadata.id)).toContain(sys.metadata.id);
    });

    it('redacts basic-auth passwords and filters by type', async () => {
      const hook = await createSystem(api, { name: 'Hook', type: 'webhook', description: '', credentials: { password: 'hook-password-1' }, connection: { endpoint: 'https://hooks.example' } });
      expect(hook.entity.credentials.password).toBe('***');
      const types = async (q: string) => expectStatus(await api.get(`${OS}/integrated_systems?type=${q}`), 200).integrated_systems.map((s: any) => s.entity.type);
      expect(new Set(await types('webhook'))).toEqual(new Set(['webhook']));
      expect(new Set(await types('webhook,custom_metrics_provider'))).toEqual(new Set(['webhook', 'custom_metrics_provider']));
      expect(await types('slack')).toEqual([]);
    });

    it('requires usable credentials and an endpoint for a custom_metrics_provider', async () => {
      const base = cmpBody(sb.url, 'http://127.0.0.1:9/x');
      expectIbmError(await api.post(`${OS}/integrated_systems`, { ...base, credentials: { auth_type: 'bearer' } }), 400, 'credentials.token_info');
      expectIbmError(await api.post(`${OS}/integrated_systems`, { ...base, credentials: { auth_type: 'basic', username: 'u' } }), 400, 'credentials.password');
      expectIbmError(await api.post(`${OS}/integrated_systems`, { ...base, credentials: { auth_type: 'magic' } }), 400, 'auth_type');
      expectIbmError(await api.post(`${OS}/integrated_systems`, { ...base, connection: { display_name: 'no endpoint' } }), 400, 'connection.endpoint');
      expectIbmError(await api.post(`${OS}/integrated_systems`, { ...base, type: 'fax' }), 400, 'type');
      expectIbmError(await api.post(`${OS}/integrated_systems`, { ...base, description: undefined }), 400, 'description');
      expectIbmError(await api.get(`${OS}/integrated_systems/nope`), 404, "integrated system 'nope'");
    });

    it('patches the stored credentials: a redacted value sent back keeps the secret, a new one replaces it', async () => {
      const sys = await createSystem(api, cmpBody(sb.url, 'http://127.0.0.1:9/x', 'Patchable Provider'));
      const path = `${OS}/integrated_systems/${sys.metadata.id}`;
      // Send back what was read (with *** and secret_id) plus a changed endpoint.
      const readBack = { ...sys.entity.credentials };
      const moved = expectStatus(
        await api.patch(path, [{ op: 'replace', path: '/credentials', value: readBack }, { op: 'replace', path: '/connection/endpoint', value: 'http://127.0.0.1:9/y' }], PATCH_JSON),
        200,
      );
      expect(moved.entity.connection.endpoint).toBe('http://127.0.0.1:9/y');
      expect(moved.entity.credentials.secret_id).toBe(sys.entity.credentials.secret_id); // the secret did not change
      const rotated = expectStatus(await api.patch(path, [{ op: 'replace', path: '/credentials/token_info/payload/api_key', value: 'another-key-123' }]), 200);
      expect(rotated.entity.credentials.secret_id).not.toBe(sys.entity.credentials.secret_id);
      expect(JSON.stringify(rotated)).not.toContain('another-key-123');
      expectIbmError(await api.patch(path, [{ op: 'remove', path: '/connection/endpoint' }]), 400, 'connection.endpoint');
      expectIbmError(await api.patch(path, [{ op: 'remove', path: '/credentials/token_info' }]), 400, 'credentials.token_info');
      expect((await api.delete(path)).status).toBe(202);
      expectIbmError(await api.get(path), 404);
    });
  });
});
