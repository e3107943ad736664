import { randomUUID } from 'node:crypto';
import {
  CustomMetricsProviderCredentials,
  DataMartFields,
  IntegratedSystemRequest,
  JsonPatch,
  ServiceProviderRequest,
  SubscriptionRequest,
  type IntegratedSystemRequest as IntegratedSystemRequestT,
} from '../../../lib/contracts/openscale';
import { badRequest, formatZodIssues } from '../../errors';
import { reply } from '../../http/router';
import {
  boolParam,
  creation,
  findIn,
  insert,
  instanceOf,
  lookupIn,
  matchesCsv,
  modification,
  nowIso,
  patchEntity,
  pathValue,
  readyAt,
  routeGetById,
  V2,
  type OpenScaleState,
} from './context';
import { restoreRedacted } from './credentials';
import { jsonEqual } from './json-patch';
import { removeMonitorInstance } from './monitors';
import type { RunDriver } from './runs';
import { dataMartView, providerView, subscriptionView, systemView } from './views';

/** Data marts, service providers, subscriptions and integrated systems (§5.3–§5.6). */
export function registerResourceRoutes(state: OpenScaleState, driver: RunDriver): void {
  const { host } = state;

  // ---- Data marts: one per service instance, id = instance id (made at start) ----------------------
  host.get(`${V2}/data_marts`, (ctx) => {
    const instance = instanceOf(state, ctx);
    return reply.json(200, { data_marts: state.dataMarts.find((d) => d.instance === instance).map((d) => dataMartView(d, ctx.baseUrl)) });
  });
  routeGetById(state, `${V2}/data_marts`, state.dataMarts, 'data mart', dataMartView);
  host.patch(`${V2}/data_marts/:id`, { body: JsonPatch }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.dataMarts, instance, ctx.params.id!, 'data mart');
      const entity = patchEntity(doc.entity, ctx.body, DataMartFields, 'data mart');
      const saved = await state.dataMarts.put(doc.key, { ...doc, entity, ...modification(ctx) });
      return reply.json(200, dataMartView(saved, ctx.baseUrl));
    }),
  );

  // ---- Service providers ---------------------------------------------------------------------------
  host.get(`${V2}/service_providers`, (ctx) => {
    const instance = instanceOf(state, ctx);
    const q = (k: string) => ctx.searchParams.get(k) ?? undefined;
    const showDeleted = boolParam(ctx, 'show_deleted');
    const list = state.providers
      .find((d) => d.instance === instance && (showDeleted || !d.deleted_at))
      .filter((d) =>
        ['service_type', 'instance_id', 'operational_space_id', 'deployment_space_id', 'integrated_project_id'].every((k) => matchesCsv(pathValue(d.entity, k), q(k))),
      )
      .sort(byCreation);
    return reply.json(200, { service_providers: list.map((d) => providerView(d, ctx.baseUrl)) });
  });
  host.post(`${V2}/service_providers`, { body: ServiceProviderRequest }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      // OpenScale does not make provider names unique (the predecessor checked by name itself).
      const now = Date.now();
      const doc = await insert(state.providers, { ...creation(instance, ctx, now), ready_at: readyAt(state, now), secret_id: randomUUID(), entity: ctx.body });
      return reply.json(201, providerView(doc, ctx.baseUrl));
    }),
  );
  routeGetById(state, `${V2}/service_providers`, state.providers, 'service provider', providerView);
  host.patch(`${V2}/service_providers/:id`, { body: JsonPatch }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.providers, instance, ctx.params.id!, 'service provider');
      const view = { ...doc.entity, credentials: { secret_id: doc.secret_id } };
      const patched = patchEntity(view, ctx.body, ServiceProviderRequest, 'service provider');
      const credentials = jsonEqual(patched.credentials, { secret_id: doc.secret_id })
        ? doc.entity.credentials
        : (restoreRedacted(patched.credentials, doc.entity.credentials) as Record<string, unknown>);
      const changed = !jsonEqual(credentials, doc.entity.credentials);
      const saved = await state.providers.put(doc.key, {
        ...doc,
        entity: { ...patched, credentials },
        secret_id: changed ? randomUUID() : doc.secret_id,
        ...modification(ctx),
      });
      return reply.json(200, providerView(saved, ctx.baseUrl));
    }),
  );
  host.delete(`${V2}/service_providers/:id`, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.providers, instance, ctx.params.id!, 'service provider');
      // Soft delete: listed again with show_deleted=true. Its subscriptions stay (as in OpenScale, which
      // leaves them to the caller).
      await state.providers.put(doc.key, { ...doc, deleted_at: nowIso() });
      return reply.empty(202);
    }),
  );

  // ---- Subscriptions -------------------------------------------------------------------------------
  const SUBSCRIPTION_FILTERS = [
    'data_mart_id',
    'service_provider_id',
    'asset.asset_id',
    'asset.asset_type',
    'asset.foundational_model_id',
    'deployment.deployment_id',
    'deployment.deployment_type',
    'integration_reference.integrated_system_id',
    'integration_reference.external_id',
    'risk_evaluation_status.state',
  ];
  const PROVIDER_FILTERS = ['operational_space_id', 'deployment_space_id', 'integrated_project_id'];

  const checkSubscriptionRefs = (instance: string, body: { data_mart_id: string; service_provider_id: string }): void => {
    if (!lookupIn(state.dataMarts, instance, body.data_mart_id)) {
      throw badRequest(`data_mart_id: data mart '${body.data_mart_id}' does not exist in service instance ${instance}`);
    }
    if (!lookupIn(state.providers, instance, body.service_provider_id)) {
      throw badRequest(`service_provider_id: service provider '${body.service_provider_id}' does not exist`);
    }
  };

  host.get(`${V2}/subscriptions`, (ctx) => {
    const instance = instanceOf(state, ctx);
    const q = (k: string) => ctx.searchParams.get(k) ?? undefined;
    const list = state.subscriptions
      .find((d) => d.instance === instance)
      .filter((d) => SUBSCRIPTION_FILTERS.every((k) => matchesCsv(pathValue(d.entity, k), q(k))))
      .filter((d) => {
        const wanted = PROVIDER_FILTERS.filter((k) => q(`service_provider.${k}`) !== undefined);
        if (wanted.length === 0) return true;
        const provider = state.providers.find((p) => p.instance === instance && p.id === d.entity.service_provider_id)[0];
        return wanted.every((k) => matchesCsv(provider ? pathValue(provider.entity, k) : undefined, q(`service_provider.${k}`)));
      })
      .sort(byCreation);
    return reply.json(200, { subscriptions: list.map((d) => subscriptionView(d, ctx.baseUrl)) });
  });
  host.post(`${V2}/subscriptions`, { body: SubscriptionRequest }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      checkSubscriptionRefs(instance, ctx.body);
      const now = Date.now();
      const doc = await insert(state.subscriptions, { ...creation(instance, ctx, now), ready_at: readyAt(state, now), entity: ctx.body });
      return reply.json(201, subscriptionView(doc, ctx.baseUrl));
    }),
  );
  routeGetById(state, `${V2}/subscriptions`, state.subscriptions, 'subscription', subscriptionView);
  host.patch(`${V2}/subscriptions/:id`, { body: JsonPatch }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.subscriptions, instance, ctx.params.id!, 'subscription');
      const entity = patchEntity(doc.entity, ctx.body, SubscriptionRequest, 'subscription');
      if (entity.data_mart_id !== doc.entity.data_mart_id || entity.service_provider_id !== doc.entity.service_provider_id) checkSubscriptionRefs(instance, entity);
      const saved = await state.subscriptions.put(doc.key, { ...doc, entity, ...modification(ctx) });
      return reply.json(200, subscriptionView(saved, ctx.baseUrl));
    }),
  );
  host.delete(`${V2}/subscriptions/:id`, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.subscriptions, instance, ctx.params.id!, 'subscription');
      const force = boolParam(ctx, 'force');
      // Its monitor instances go with it; their measurements only with force=true.
      for (const mi of state.instances.find((m) => m.instance === instance && m.entity.target.target_type === 'subscription' && m.entity.target.target_id === doc.id)) {
        await removeMonitorInstance(state, driver, mi, force);
      }
      await state.subscriptions.delete(doc.key);
      return reply.empty(202);
    }),
  );

  // ---- Integrated systems --------------------------------------------------------------------------
  const checkSystem = (entity: IntegratedSystemRequestT): void => {
    if (entity.type !== 'custom_metrics_provider') return;
    const creds = CustomMetricsProviderCredentials.safeParse(entity.credentials);
    if (!creds.success) {
      throw badRequest(
        `a custom_metrics_provider needs credentials {auth_type:'bearer', token_info:{url, method?, headers?, payload?}} or {auth_type:'basic', username, password}: ${formatZodIssues(creds.error.issues, 'credentials')
          .map((l) => (l.startsWith('credentials') ? l : `credentials.${l}`))
          .join('; ')}`,
      );
    }
    const endpoint = entity.connection?.endpoint;
    if (!endpoint || !/^https?:\/\/[^/]/.test(endpoint)) {
      throw badRequest(`connection.endpoint: a custom_metrics_provider needs the http(s) URL OpenScale posts runs to, got ${JSON.stringify(endpoint)}`);
    }
  };

  host.get(`${V2}/integrated_systems`, (ctx) => {
    const instance = instanceOf(state, ctx);
    const type = ctx.searchParams.get('type') ?? undefined;
    const list = state.systems.find((d) => d.instance === instance && matchesCsv(d.entity.type, type)).sort(byCreation);
    return reply.json(200, { integrated_systems: list.map((d) => systemView(d, ctx.baseUrl)) });
  });
  host.post(`${V2}/integrated_systems`, { body: IntegratedSystemRequest }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      checkSystem(ctx.body);
      const doc = await insert(state.systems, { ...creation(instance, ctx), secret_id: randomUUID(), entity: ctx.body });
      return reply.json(201, systemView(doc, ctx.baseUrl));
    }),
  );
  routeGetById(state, `${V2}/integrated_systems`, state.systems, 'integrated system', systemView);
  host.patch(`${V2}/integrated_systems/:id`, { body: JsonPatch }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.systems, instance, ctx.params.id!, 'integrated system');
      // The patch applies to the stored entity, so `replace /credentials/token_info/url` works; a `***`
      // sent back (from a read answer) keeps the stored secret.
      const patched = patchEntity(doc.entity, ctx.body, IntegratedSystemRequest, 'integrated system');
      const credentials = restoreRedacted(patched.credentials, doc.entity.credentials) as Record<string, unknown>;
      const entity = { ...patched, credentials };
      checkSystem(entity);
      const changed = !jsonEqual(credentials, doc.entity.credentials);
      const saved = await state.systems.put(doc.key, {
        ...doc,
        entity,
        secret_id: changed ? randomUUID() : doc.secret_id,
        ...modification(ctx),
      });
      return reply.json(200, systemView(saved, ctx.baseUrl));
    }),
  );
  host.delete(`${V2}/integrated_systems/:id`, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.systems, instance, ctx.params.id!, 'integrated system');
      await state.systems.delete(doc.key);
      return reply.empty(202);
    }),
  );
}

/** Oldest first, so lists are stable. */
export function byCreation(a: { created_at: string; key: string }, b: { created_at: string; key: string }): number {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
