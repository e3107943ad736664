import {
  CustomMetricsProviderCredentials,
  IntegratedSystem,
  IntegratedSystemCollection,
  type IntegratedSystemRequest,
  type IntegratedSystemType,
  type JsonPatch,
} from '../contracts/openscale';
import { ConfigError } from '../errors';
import { isCredentialName, REDACTED } from '../redact';
import { PLANNED_ID, type MutationOptions } from '../plan';
import { DuplicateResourceError, JSON_PATCH, type Ensured, type OpenScaleHttp } from './common';

/** Integrated systems (custom metrics providers among them), optionally of one type. */
export async function listIntegratedSystems(os: OpenScaleHttp, type?: IntegratedSystemType): Promise<IntegratedSystem[]> {
  return (await os.request({ path: '/v2/integrated_systems', query: { type }, schema: IntegratedSystemCollection })).integrated_systems;
}

/** One integrated system by id; a missing one is a RemoteApiError with status 404. */
export async function getIntegratedSystem(os: OpenScaleHttp, id: string): Promise<IntegratedSystem> {
  return os.request({ path: `/v2/integrated_systems/${encodeURIComponent(id)}`, schema: IntegratedSystem });
}

/** Integrated systems named `name` of `type` (default `custom_metrics_provider`). */
export async function findIntegratedSystemsByName(os: OpenScaleHttp, name: string, type: IntegratedSystemType = 'custom_metrics_provider'): Promise<IntegratedSystem[]> {
  return (await listIntegratedSystems(os, type)).filter((s) => s.entity.name === name && s.entity.type === type);
}

/** What the credentials of a profile need for {@link cpdTokenInfoCredentials}. */
export interface CpdLogin {
  readonly cpdUrl: string;
  readonly auth:
    | { readonly kind: 'cpd-apikey'; readonly username: string; readonly apiKey: string }
    | { readonly kind: 'cpd-password'; readonly username: string; readonly password: string }
    | { readonly kind: 'bearer' | 'iam-apikey' };
}

/**
 * The credentials OpenScale uses to call a custom metrics provider: fetch a token from the CPD
 * authorize URL with the profile's user name and API key (or password), then send it as Bearer.
 * This stores the credential in OpenScale, as the protocol requires. A profile with a fixed bearer
 * token or an IBM Cloud API key cannot be turned into such a login (ConfigError).
 */
export function cpdTokenInfoCredentials(login: CpdLogin): CustomMetricsProviderCredentials {
  const a = login.auth;
  if (a.kind !== 'cpd-apikey' && a.kind !== 'cpd-password') {
    throw new ConfigError(
      `a custom metrics provider registration needs a CPD user name with an API key or password (OpenScale logs in with them before each run); the profile uses ${a.kind}`,
    );
  }
  return {
    auth_type: 'bearer',
    token_info: {
      url: `${login.cpdUrl.replace(/\/+$/, '')}/icp4d-api/v1/authorize`,
      method: 'post',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      payload: a.kind === 'cpd-apikey' ? { username: a.username, api_key: a.apiKey } : { username: a.username, password: a.password },
    },
  };
}

/**
 * Credentials with every secret value masked, the way OpenScale answers them (keys like `api_key`,
 * `password`, `Authorization`; `auth_type` is not a secret). The answer-only `secret_id` is dropped.
 */
export function maskCredentials(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => maskCredentials(v, key));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'secret_id').map(([k, v]) => [k, maskCredentials(v, k)]));
  }
  if (typeof value === 'string' && key !== 'auth_type' && isCredentialName(key)) return REDACTED;
  return value;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k.toLowerCase())}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What a custom metrics provider registration should look like. */
export interface CustomMetricsProviderSpec {
  readonly name: string;
  readonly description?: string;
  /** The URL OpenScale POSTs each run to. */
  readonly endpoint: string;
  readonly credentials: CustomMetricsProviderCredentials;
}

/** Options of {@link ensureCustomMetricsProvider}. */
export interface EnsureProviderOptions extends MutationOptions {
  /**
   * Rewrite the stored credentials even when what OpenScale shows of them matches. OpenScale masks
   * secret values in its answers, so a changed API key alone cannot be seen: pass this after
   * changing it.
   */
  readonly rotateCredentials?: boolean;
}

/**
 * The `custom_metrics_provider` integrated system named `spec.name`: created when missing; when
 * found, its endpoint, description and the visible part of its credentials (auth type, token URL,
 * user name, headers) are compared and the differences PATCHed. Several with that name is a
 * {@link DuplicateResourceError}. Credentials are never part of a change note.
 */
export async function ensureCustomMetricsProvider(os: OpenScaleHttp, spec: CustomMetricsProviderSpec, options: EnsureProviderOptions = {}): Promise<Ensured<IntegratedSystem>> {
  CustomMetricsProviderCredentials.parse(spec.credentials);
  if (!/^https?:\/\/[^\s/]+/.test(spec.endpoint)) throw new ConfigError(`custom metrics provider endpoint: expected an http(s) URL, got ${JSON.stringify(spec.endpoint)}`);
  const description = spec.description ?? spec.name;
  const found = await findIntegratedSystemsByName(os, spec.name);
  if (found.length > 1) {
    throw new DuplicateResourceError(
      'integrated system',
      `name "${spec.name}" and type custom_metrics_provider`,
      found.map((s) => ({ id: s.metadata.id, createdAt: s.metadata.created_at })),
      'Delete the extra ones (DELETE /v2/integrated_systems/{id}); monitor instances name one by id in parameters.custom_metrics_provider_id.',
    );
  }
  if (found.length === 0) {
    const note = `endpoint ${spec.endpoint}`;
    if (options.plan) {
      options.plan.record({ service: 'openscale', action: 'create', resource: 'integrated_system', target: spec.name, detail: `custom_metrics_provider, ${note}` });
      return { id: PLANNED_ID, outcome: 'created', planned: true, changes: [note] };
    }
    const body: IntegratedSystemRequest = {
      name: spec.name,
      type: 'custom_metrics_provider',
      description,
      credentials: spec.credentials,
      connection: { display_name: spec.name, endpoint: spec.endpoint },
    };
    const created = await os.request({ method: 'POST', path: '/v2/integrated_systems', body, schema: IntegratedSystem });
    return { id: created.metadata.id, outcome: 'created', planned: false, resource: created, changes: [note] };
  }

  const current = found[0]!;
  const ops: JsonPatch = [];
  const changes: string[] = [];
  const connection = current.entity.connection;
  if (connection?.endpoint !== spec.endpoint) {
    ops.push({ op: connection ? 'replace' : 'add', path: '/connection', value: { ...(connection ?? {}), display_name: connection?.display_name ?? spec.name, endpoint: spec.endpoint } });
    changes.push(`endpoint ${connection?.endpoint ?? '(none)'} → ${spec.endpoint}`);
  }
  if (current.entity.description !== description) {
    ops.push({ op: 'replace', path: '/description', value: description });
    changes.push('description');
  }
  const shown = maskCredentials(current.entity.credentials ?? {});
  // An answer that shows nothing but a secret reference cannot be compared.
  const comparable = typeof shown === 'object' && shown !== null && Object.keys(shown).length > 0;
  const differs = comparable && canonical(shown) !== canonical(maskCredentials(spec.credentials));
  if (differs || options.rotateCredentials) {
    ops.push({ op: 'replace', path: '/credentials', value: spec.credentials });
    changes.push(differs ? 'credentials (token URL, user or auth type changed)' : 'credentials (rewritten on request)');
  }
  if (ops.length === 0) return { id: current.metadata.id, outcome: 'existing', planned: false, resource: current, changes: [] };
  if (options.plan) {
    options.plan.record({ service: 'openscale', action: 'update', resource: 'integrated_system', target: spec.name, detail: changes.join('; ') });
    return { id: current.metadata.id, outcome: 'updated', planned: true, resource: current, changes };
  }
  const updated = await os.request({
    method: 'PATCH',
    path: `/v2/integrated_systems/${encodeURIComponent(current.metadata.id)}`,
    body: ops,
    headers: { 'content-type': JSON_PATCH },
    idempotent: true,
    schema: IntegratedSystem,
  });
  return { id: current.metadata.id, outcome: 'updated', planned: false, resource: updated, changes };
}
