import { randomUUID } from 'node:crypto';
import {
  JsonPatch,
  MonitorDefinitionRequest,
  MonitorInstanceRequest,
  type MonitorDefinitionEntity,
  type MonitorInstanceRequest as MonitorInstanceRequestT,
} from '../../../lib/contracts/openscale';
import { metricIdFromName, monitorIdFromName } from '../../../lib/monitors/definitions';
import { badRequest, conflict } from '../../errors';
import { reply } from '../../http/router';
import { boolParam, creation, findIn, insert, instanceOf, lookupIn, matchesCsv, modification, nowIso, patchEntity, pathValue, readyAt, routeGetById, V2, type OpenScaleState } from './context';
import { jsonEqual } from './json-patch';
import type { MonitorDefinitionDoc, MonitorInstanceDoc } from './model';
import type { RunDriver } from './runs';
import { definitionView, instanceView } from './views';

/**
 * The stored entity of a definition request: metric and tag ids derived from their names (always:
 * an id sent by the client is replaced), with two names that give one id rejected.
 */
export function definitionEntity(body: MonitorDefinitionRequest): MonitorDefinitionEntity {
  const ids = (items: { name: string }[], what: 'metrics' | 'tags') => {
    const seen = new Map<string, string>();
    return items.map((item, i) => {
      const id = metricIdFromName(item.name);
      if (id === '') throw badRequest(`${what}[${i}].name: '${item.name}' gives an empty id (use letters or digits)`);
      const other = seen.get(id);
      if (other !== undefined) throw badRequest(`${what}[${i}].name: '${item.name}' and '${other}' both give the id '${id}'`);
      seen.set(id, item.name);
      return { ...item, id };
    });
  };
  return { ...body, metrics: ids(body.metrics, 'metrics'), tags: ids(body.tags, 'tags') };
}

/** Deletes a monitor instance with its runs (their provider calls stop); measurements only when `force`. */
export async function removeMonitorInstance(state: OpenScaleState, driver: RunDriver, doc: MonitorInstanceDoc, force: boolean): Promise<void> {
  driver.forgetInstance(doc.instance, doc.id);
  for (const run of state.runs.find((r) => r.instance === doc.instance && r.monitor_instance_id === doc.id)) await state.runs.delete(run.key);
  if (force) {
    for (const m of state.measurements.find((x) => x.instance === doc.instance && x.monitor_instance_id === doc.id)) await state.measurements.delete(m.key);
  }
  await state.instances.delete(doc.key);
}

/** Monitor definitions and monitor instances (§5.7, §5.8). */
export function registerMonitorRoutes(state: OpenScaleState, driver: RunDriver): void {
  const { host } = state;

  // ---- Monitor definitions -------------------------------------------------------------------------
  /** 409 when another definition has this name, or a name giving the same id. */
  const checkNameFree = (instance: string, name: string, self?: MonitorDefinitionDoc): void => {
    const id = monitorIdFromName(name);
    const clash = state.definitions.find((d) => d.instance === instance && d.key !== self?.key && (d.entity.name === name || d.id === id))[0];
    if (clash) throw conflict(`A monitor definition named '${clash.entity.name}' (id ${clash.id}) already exists; names must be unique`, 'duplicate_name');
  };

  /** 409 when an instance of the definition has a threshold for a metric the new entity lacks. */
  const checkInstancesStillFit = (doc: MonitorDefinitionDoc, entity: MonitorDefinitionEntity): void => {
    const ids = new Set(entity.metrics.map((m) => m.id));
    for (const mi of state.instances.find((m) => m.instance === doc.instance && m.entity.monitor_definition_id === doc.id)) {
      const orphan = (mi.entity.thresholds ?? []).find((t) => !ids.has(t.metric_id));
      if (orphan) throw conflict(`monitor instance ${mi.id} has a threshold for metric '${orphan.metric_id}', which the changed definition no longer has`);
    }
  };

  host.get(`${V2}/monitor_definitions`, (ctx) => {
    const instance = instanceOf(state, ctx);
    const names = ctx.searchParams.get('name') ?? undefined;
    const type = ctx.searchParams.get('type') ?? undefined;
    // Every definition made through the API is a `user` one; the sandbox has no IBM `service` monitors.
    const list = state.definitions
      .find((d) => d.instance === instance && matchesCsv(d.entity.name, names) && matchesCsv('user', type))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return reply.json(200, { monitor_definitions: list.map((d) => definitionView(d, ctx.baseUrl)) });
  });

  host.post(`${V2}/monitor_definitions`, { body: MonitorDefinitionRequest }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const id = monitorIdFromName(ctx.body.name);
      if (id === '') throw badRequest(`name: '${ctx.body.name}' gives an empty monitor id (use letters or digits)`);
      checkNameFree(instance, ctx.body.name);
      if (host.config.rejectReusedDefinitionIds && state.retired.find((r) => r.instance === instance && r.id === id).length > 0) {
        throw conflict(`The monitor definition id '${id}' belonged to a deleted definition and cannot be reused; choose a new name`, 'id_reused');
      }
      const entity = definitionEntity(ctx.body);
      // Filed under a new key; the id is the one the name gives.
      const doc = await insert(state.definitions, { ...creation(instance, ctx), id, entity });
      return reply.json(201, definitionView(doc, ctx.baseUrl));
    }),
  );

  routeGetById(state, `${V2}/monitor_definitions`, state.definitions, 'monitor definition', definitionView);

  const replaceDefinition = async (doc: MonitorDefinitionDoc, body: MonitorDefinitionRequest, ctx: { principal?: { username: string } }): Promise<MonitorDefinitionDoc> => {
    if (body.name !== doc.entity.name) checkNameFree(doc.instance, body.name, doc);
    const entity = definitionEntity(body);
    checkInstancesStillFit(doc, entity);
    // The id stays what the first name gave, as in OpenScale.
    return state.definitions.put(doc.key, { ...doc, entity, ...modification(ctx) });
  };

  host.put(`${V2}/monitor_definitions/:id`, { body: MonitorDefinitionRequest }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.definitions, instance, ctx.params.id!, 'monitor definition');
      return reply.json(200, definitionView(await replaceDefinition(doc, ctx.body, ctx), ctx.baseUrl));
    }),
  );

  host.patch(`${V2}/monitor_definitions/:id`, { body: JsonPatch }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.definitions, instance, ctx.params.id!, 'monitor definition');
      const body = patchEntity(doc.entity, ctx.body, MonitorDefinitionRequest, 'monitor definition');
      return reply.json(200, definitionView(await replaceDefinition(doc, body, ctx), ctx.baseUrl));
    }),
  );

  host.delete(`${V2}/monitor_definitions/:id`, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.definitions, instance, ctx.params.id!, 'monitor definition');
      const users = state.instances.find((m) => m.instance === instance && m.entity.monitor_definition_id === doc.id);
      const force = boolParam(ctx, 'force');
      if (users.length > 0 && !force) {
        throw conflict(`monitor definition ${doc.id} has monitor instances (${users.map((m) => m.id).join(', ')}); delete them first or pass force=true`);
      }
      for (const mi of users) await removeMonitorInstance(state, driver, mi, true);
      await state.definitions.delete(doc.key);
      const key = randomUUID();
      await state.retired.put(key, { key, id: doc.id, instance, deleted_at: nowIso() });
      return reply.empty(202);
    }),
  );

  // ---- Monitor instances ---------------------------------------------------------------------------
  /** Checks references and thresholds of an instance entity; 400 naming the field. */
  const checkInstance = (instance: string, entity: MonitorInstanceRequestT, before?: MonitorInstanceRequestT): MonitorDefinitionDoc => {
    if (!lookupIn(state.dataMarts, instance, entity.data_mart_id)) {
      throw badRequest(`data_mart_id: data mart '${entity.data_mart_id}' does not exist in service instance ${instance}`);
    }
    const definition = lookupIn(state.definitions, instance, entity.monitor_definition_id);
    if (!definition) throw badRequest(`monitor_definition_id: monitor definition '${entity.monitor_definition_id}' does not exist`);
    const { target_type, target_id } = entity.target;
    if (target_type === 'subscription' && !lookupIn(state.subscriptions, instance, target_id)) {
      throw badRequest(`target.target_id: subscription '${target_id}' does not exist`);
    }
    if (target_type === 'data_mart' && !lookupIn(state.dataMarts, instance, target_id)) {
      throw badRequest(`target.target_id: data mart '${target_id}' does not exist`);
    }
    const metricIds = definition.entity.metrics.map((m) => m.id);
    const seen = new Set<string>();
    (entity.thresholds ?? []).forEach((t, i) => {
      if (!metricIds.includes(t.metric_id)) {
        throw badRequest(`thresholds[${i}].metric_id: '${t.metric_id}' is not a metric of monitor definition '${definition.id}' (metrics: ${metricIds.join(', ')})`);
      }
      const k = `${t.metric_id} ${t.type}`;
      if (seen.has(k)) throw badRequest(`thresholds[${i}]: a second ${t.type} for metric '${t.metric_id}'`);
      seen.add(k);
    });
    const providerId = entity.parameters?.custom_metrics_provider_id;
    if (providerId !== undefined && providerId !== before?.parameters?.custom_metrics_provider_id) {
      const system = lookupIn(state.systems, instance, providerId);
      if (!system || system.entity.type !== 'custom_metrics_provider') {
        throw badRequest(`parameters.custom_metrics_provider_id: '${providerId}' is not an integrated system of type custom_metrics_provider`);
      }
    }
    return definition;
  };

  const INSTANCE_FILTERS = ['data_mart_id', 'monitor_definition_id', 'target.target_id', 'target.target_type'];
  host.get(`${V2}/monitor_instances`, (ctx) => {
    const instance = instanceOf(state, ctx);
    const q = (k: string) => ctx.searchParams.get(k) ?? undefined;
    const list = state.instances
      .find((d) => d.instance === instance && INSTANCE_FILTERS.every((k) => matchesCsv(pathValue(d.entity, k), q(k))))
      .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
    return reply.json(200, { monitor_instances: list.map((d) => instanceView(d, ctx.baseUrl)) });
  });

  host.post(`${V2}/monitor_instances`, { body: MonitorInstanceRequest }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      boolParam(ctx, 'skip_scheduler'); // accepted; the sandbox has no scheduler
      checkInstance(instance, ctx.body);
      const { monitor_definition_id, target } = ctx.body;
      const existing = state.instances.find(
        (m) => m.instance === instance && m.entity.monitor_definition_id === monitor_definition_id && m.entity.target.target_type === target.target_type && m.entity.target.target_id === target.target_id,
      )[0];
      if (existing) {
        throw conflict(`Monitor instance ${existing.id} of ${monitor_definition_id} already exists for ${target.target_type} ${target.target_id}; update it instead`, 'duplicate_monitor_instance');
      }
      const now = Date.now();
      const doc = await insert(state.instances, { ...creation(instance, ctx, now), ready_at: readyAt(state, now), entity: ctx.body });
      return reply.json(201, instanceView(doc, ctx.baseUrl));
    }),
  );

  routeGetById(state, `${V2}/monitor_instances`, state.instances, 'monitor instance', instanceView);

  host.patch(`${V2}/monitor_instances/:id`, { body: JsonPatch }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const metadataOnly = boolParam(ctx, 'update_metadata_only');
      const doc = findIn(state.instances, instance, ctx.params.id!, 'monitor instance');
      const entity = patchEntity(doc.entity, ctx.body, MonitorInstanceRequest, 'monitor instance');
      for (const field of ['data_mart_id', 'monitor_definition_id', 'target'] as const) {
        if (!jsonEqual(entity[field], doc.entity[field])) throw badRequest(`${field}: cannot be changed on a monitor instance (create another one)`);
      }
      checkInstance(instance, entity, doc.entity);
      // Without update_metadata_only the instance reconfigures: `preparing` again for a while.
      const now = Date.now();
      const saved = await state.instances.put(doc.key, {
        ...doc,
        entity,
        ready_at: metadataOnly ? doc.ready_at : readyAt(state, now),
        ...modification(ctx, now),
      });
      await driver.onInstancePatched(saved);
      return reply.json(200, instanceView(saved, ctx.baseUrl));
    }),
  );

  host.delete(`${V2}/monitor_instances/:id`, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const doc = findIn(state.instances, instance, ctx.params.id!, 'monitor instance');
      await removeMonitorInstance(state, driver, doc, boolParam(ctx, 'force'));
      return reply.empty(202);
    }),
  );
}
