import { ServiceProvider, ServiceProviderCollection, type ServiceType } from '../contracts/openscale';
import { PLANNED_ID, type MutationOptions } from '../plan';
import { DuplicateResourceError, failureText, pollState, type Ensured, type OpenScaleHttp, type WaitOptions } from './common';

/** The name the runbook gives its headless service provider (predecessor §6.1). */
export const HEADLESS_PROVIDER_NAME = 'OpenScale Headless Service Provider';

/** Service providers (not deleted ones), optionally of one service type. */
export async function listServiceProviders(os: OpenScaleHttp, filter: { serviceType?: ServiceType } = {}): Promise<ServiceProvider[]> {
  const res = await os.request({ path: '/v2/service_providers', query: { service_type: filter.serviceType }, schema: ServiceProviderCollection });
  return res.service_providers;
}

/** The service providers named `name` (and of `serviceType` when given). */
export async function findServiceProvidersByName(os: OpenScaleHttp, name: string, serviceType?: ServiceType): Promise<ServiceProvider[]> {
  // Filter the type again: a service that ignores the query parameter must not widen the match.
  return (await listServiceProviders(os, { serviceType })).filter((p) => p.entity.name === name && (!serviceType || p.entity.service_type === serviceType));
}

/** One service provider by id; a missing one is a RemoteApiError with status 404. */
export async function getServiceProvider(os: OpenScaleHttp, id: string): Promise<ServiceProvider> {
  return os.request({ path: `/v2/service_providers/${encodeURIComponent(id)}`, schema: ServiceProvider });
}

/** Polls a service provider until it is `active` (`error` fails with its failure). */
export async function waitForServiceProvider(os: OpenScaleHttp, id: string, options: WaitOptions = {}): Promise<ServiceProvider> {
  return pollState(
    `service provider ${id}`,
    () => getServiceProvider(os, id),
    (p) => p.entity.status.state,
    ['active'],
    ['error', 'disabled', 'deleting', 'pending_delete'],
    (p) => failureText(p.entity.status.failure),
    options,
  );
}

/** Options of {@link ensureHeadlessServiceProvider}. */
export interface HeadlessProviderOptions extends MutationOptions {
  readonly name?: string;
  readonly description?: string;
  /** `production` (default) or `pre_production`. */
  readonly operationalSpaceId?: string;
  /** Waiting for `active` after a create (or while the found one is preparing). */
  readonly wait?: WaitOptions;
}

/**
 * The headless (`custom_machine_learning`) service provider the runbook's subscriptions hang off,
 * found by name and type or created with empty credentials, then waited for until `active`.
 * Several with that name and type is a {@link DuplicateResourceError}.
 */
export async function ensureHeadlessServiceProvider(os: OpenScaleHttp, options: HeadlessProviderOptions = {}): Promise<Ensured<ServiceProvider>> {
  const name = options.name ?? HEADLESS_PROVIDER_NAME;
  const found = await findServiceProvidersByName(os, name, 'custom_machine_learning');
  if (found.length > 1) {
    throw new DuplicateResourceError(
      'service provider',
      `name "${name}" and type custom_machine_learning`,
      found.map((p) => ({ id: p.metadata.id, createdAt: p.metadata.created_at })),
      'Delete the extra ones (DELETE /v2/service_providers/{id}) or give another name.',
    );
  }
  if (found.length === 1) {
    const p = found[0]!;
    const ready = options.plan || p.entity.status.state === 'active' ? p : await waitForServiceProvider(os, p.metadata.id, options.wait);
    return { id: p.metadata.id, outcome: 'existing', planned: false, resource: ready, changes: [] };
  }
  const operational = options.operationalSpaceId ?? 'production';
  const note = `headless custom_machine_learning provider, operational space ${operational}`;
  if (options.plan) {
    options.plan.record({ service: 'openscale', action: 'create', resource: 'service_provider', target: name, detail: note });
    return { id: PLANNED_ID, outcome: 'created', planned: true, changes: [note] };
  }
  const created = await os.request({
    method: 'POST',
    path: '/v2/service_providers',
    body: { name, description: options.description ?? '', service_type: 'custom_machine_learning', operational_space_id: operational, credentials: {} },
    schema: ServiceProvider,
  });
  const ready = await waitForServiceProvider(os, created.metadata.id, options.wait);
  return { id: created.metadata.id, outcome: 'created', planned: false, resource: ready, changes: [note] };
}
