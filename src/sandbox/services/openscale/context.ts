import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { OPENSCALE_DEFAULT_INSTANCE_ID, type JsonPatch, type Metadata } from '../../../lib/contracts/openscale';
import { ApiError, badRequest, formatZodIssues, notFound } from '../../errors';
import { reply, type RequestContext } from '../../http/router';
import type { ModuleHost } from '../../module';
import type { Collection } from '../../store';
import { applyJsonPatch, JsonPatchError } from './json-patch';
import {
  DataMartDoc,
  IntegratedSystemDoc,
  MeasurementDoc,
  MonitorDefinitionDoc,
  MonitorInstanceDoc,
  RetiredDefinitionDoc,
  RunDoc,
  ServiceProviderDoc,
  SubscriptionDoc,
} from './model';

export const OpenScaleConfig = z.object({
  /** Service instances besides the default one; each has one data mart with the instance's id. */
  instanceIds: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/, 'expected letters, digits and dashes, starting with a letter or digit')).default([]),
  /** How long created service providers, subscriptions and monitor instances stay `preparing`. */
  readyDelayMs: z.number().int().min(0).default(1000),
  /** How long a new run stays `queued` before it starts. */
  runQueueMs: z.number().int().min(0).default(500),
  /** `custom_metrics_wait_time` when the instance parameters have none (seconds). */
  defaultWaitSeconds: z.number().positive().default(300),
  /** Multiplies every `custom_metrics_wait_time` (e.g. 0.01 to run the documented 360 s in 3.6 s). */
  waitTimeScale: z.number().positive().default(1),
  /** CPD 4.5.3 refused to reuse the id of a deleted monitor definition (predecessor-runbook.md §6.4). */
  rejectReusedDefinitionIds: z.boolean().default(false),
});
export type OpenScaleConfig = z.infer<typeof OpenScaleConfig>;

/** Everything the route files share: the module host, its collections and small helpers. */
export interface OpenScaleState {
  host: ModuleHost<OpenScaleConfig>;
  instanceIds: ReadonlySet<string>;
  dataMarts: Collection<DataMartDoc>;
  providers: Collection<ServiceProviderDoc>;
  subscriptions: Collection<SubscriptionDoc>;
  systems: Collection<IntegratedSystemDoc>;
  definitions: Collection<MonitorDefinitionDoc>;
  retired: Collection<RetiredDefinitionDoc>;
  instances: Collection<MonitorInstanceDoc>;
  runs: Collection<RunDoc>;
  measurements: Collection<MeasurementDoc>;
}

export async function openState(host: ModuleHost<OpenScaleConfig>): Promise<OpenScaleState> {
  const s = host.store;
  return {
    host,
    instanceIds: new Set([OPENSCALE_DEFAULT_INSTANCE_ID, ...host.config.instanceIds]),
    dataMarts: await s.collection('openscale-data-marts', DataMartDoc),
    providers: await s.collection('openscale-service-providers', ServiceProviderDoc),
    subscriptions: await s.collection('openscale-subscriptions', SubscriptionDoc),
    systems: await s.collection('openscale-integrated-systems', IntegratedSystemDoc),
    definitions: await s.collection('openscale-monitor-definitions', MonitorDefinitionDoc),
    retired: await s.collection('openscale-retired-definitions', RetiredDefinitionDoc),
    instances: await s.collection('openscale-monitor-instances', MonitorInstanceDoc),
    runs: await s.collection('openscale-runs', RunDoc),
    measurements: await s.collection('openscale-measurements', MeasurementDoc),
  };
}

/** Routes live below `/openscale/{instance}/v2`. */
export const V2 = '/openscale/:instance/v2';

export const nowIso = (): string => new Date().toISOString();

/** The `{instance}` of the path, which must be a known service instance (404 otherwise). */
export function instanceOf(state: OpenScaleState, ctx: RequestContext<unknown, unknown>): string {
  const id = ctx.params.instance!;
  if (!state.instanceIds.has(id)) throw notFound('OpenScale service instance', id);
  return id;
}

/** The document of `instance` with this resource id, or a 404 naming `what`. */
export function findIn<T extends { id: string; instance: string; deleted_at?: string }>(
  collection: Collection<T>,
  instance: string,
  id: string,
  what: string,
  options: { includeDeleted?: boolean } = {},
): T {
  const doc = collection.find((d) => d.instance === instance && d.id === id && (options.includeDeleted || !d.deleted_at))[0];
  if (!doc) throw notFound(what, id);
  return doc;
}

/**
 * `GET <listPath>/:id`: the resource of the request's service instance as `view` shows it; a 404
 * naming `what` when there is none (a soft-deleted one counts as none).
 */
export function routeGetById<T extends { id: string; instance: string; deleted_at?: string }>(
  state: OpenScaleState,
  listPath: string,
  collection: Collection<T>,
  what: string,
  view: (doc: T, baseUrl: string) => unknown,
): void {
  state.host.get(`${listPath}/:id`, (ctx) => reply.json(200, view(findIn(collection, instanceOf(state, ctx), ctx.params.id!, what), ctx.baseUrl)));
}

/** Who made a request, for `created_by` and `modified_by`. */
export function userOf(ctx: { principal?: { username: string } }): string {
  return ctx.principal?.username ?? 'unknown';
}

/** The fields a new resource starts with: a new uuid as its key and id, its instance, who created it and when. */
export function creation(instance: string, ctx: { principal?: { username: string } }, now = Date.now()): { key: string; id: string; instance: string; created_at: string; created_by: string } {
  const id = randomUUID();
  return { key: id, id, instance, created_at: new Date(now).toISOString(), created_by: userOf(ctx) };
}

/** The fields an update of a resource sets. */
export function modification(ctx: { principal?: { username: string } }, now = Date.now()): { modified_at: string; modified_by: string } {
  return { modified_at: new Date(now).toISOString(), modified_by: userOf(ctx) };
}

/** Stores a new document under its own key. */
export function insert<T extends { key: string }>(collection: Collection<T>, doc: T): Promise<T> {
  return collection.put(doc.key, doc);
}

export function lookupIn<T extends { id: string; instance: string; deleted_at?: string }>(collection: Collection<T>, instance: string, id: string): T | undefined {
  return collection.find((d) => d.instance === instance && d.id === id && !d.deleted_at)[0];
}

/** `metadata` of a resource: url from the request's base (the port may change across restarts). */
export function metadataOf(
  doc: { id: string; instance: string; created_at: string; created_by: string; modified_at?: string; modified_by?: string },
  baseUrl: string,
  path: string,
  kind: string,
): Metadata {
  const m: Metadata = {
    id: doc.id,
    url: `${baseUrl}/openscale/${doc.instance}/v2/${path}`,
    crn: `crn:v1:sandbox:private:aiopenscale:local:a/sandbox:${doc.instance}:${kind}:${doc.id}`,
    created_at: doc.created_at,
    created_by: doc.created_by,
  };
  if (doc.modified_at) m.modified_at = doc.modified_at;
  if (doc.modified_by) m.modified_by = doc.modified_by;
  return m;
}

/** `preparing` until `ready_at`, then `active`. */
export function readyState(readyAt: string, now = Date.now()): 'preparing' | 'active' {
  return now < Date.parse(readyAt) ? 'preparing' : 'active';
}

export function readyAt(state: OpenScaleState, from = Date.now()): string {
  return new Date(from + state.host.config.readyDelayMs).toISOString();
}

/** True when `value` is one of the comma-separated `filter` values (no filter: true). */
export function matchesCsv(value: unknown, filter: string | undefined): boolean {
  if (filter === undefined || filter === '') return true;
  if (value === undefined || value === null) return false;
  const wanted = filter.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return wanted.includes(String(value));
}

/** `a.b.c` of a nested object. */
export function pathValue(obj: unknown, dotted: string): unknown {
  let cur = obj;
  for (const part of dotted.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * Applies a JSON Patch to `entity` and re-validates the result with `schema`: a patch that cannot be
 * applied, or whose result is invalid, is a 400 naming the operation or the field.
 */
export function patchEntity<T>(entity: unknown, patch: JsonPatch, schema: z.ZodType<T>, what: string): T {
  let patched: unknown;
  try {
    patched = applyJsonPatch(entity, patch);
  } catch (err) {
    if (err instanceof JsonPatchError) throw new ApiError(400, 'invalid_patch', `The patch cannot be applied to the ${what}: ${err.message}`);
    throw err;
  }
  const parsed = schema.safeParse(patched);
  if (!parsed.success) throw badRequest(`The patched ${what} is invalid: ${formatZodIssues(parsed.error.issues, 'entity').join('; ')}`);
  return parsed.data;
}

/** `?flag=true|false` (absent: `fallback`); anything else is a 400 naming the parameter. */
export function boolParam(ctx: RequestContext<unknown, unknown>, name: string, fallback = false): boolean {
  const v = ctx.searchParams.get(name);
  if (v === null || v === '') return fallback;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw badRequest(`query.${name}: expected true or false, got '${v}'`);
}

/** A non-negative integer query parameter within [min, max] (absent: `fallback`). */
export function intParam(ctx: RequestContext<unknown, unknown>, name: string, fallback: number, min: number, max: number): number {
  const v = ctx.searchParams.get(name);
  if (v === null || v === '') return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw badRequest(`query.${name}: expected an integer from ${min} to ${max}, got '${v}'`);
  return Number(v);
}
