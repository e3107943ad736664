import { randomUUID } from 'node:crypto';
import { Subscription, SubscriptionCollection, type SubscriptionRequest } from '../contracts/openscale';
import { PLANNED_ID, type MutationOptions } from '../plan';
import { DuplicateResourceError, failureText, pollState, type Ensured, type OpenScaleHttp, type WaitOptions } from './common';
import { defaultDataMartId } from './data-marts';

/** The runbook names a deployment's subscription `<deployment name> Monitor` (predecessor §6.2). */
export function subscriptionNameFor(deploymentName: string): string {
  return `${deploymentName} Monitor`;
}

/** Filters of `GET /v2/subscriptions` (each a single value here). */
export interface SubscriptionFilter {
  readonly dataMartId?: string;
  readonly serviceProviderId?: string;
}

/** The subscriptions of the service instance, narrowed by data mart and service provider when given. */
export async function listSubscriptions(os: OpenScaleHttp, filter: SubscriptionFilter = {}): Promise<Subscription[]> {
  const res = await os.request({
    path: '/v2/subscriptions',
    query: { data_mart_id: filter.dataMartId, service_provider_id: filter.serviceProviderId },
    schema: SubscriptionCollection,
  });
  return res.subscriptions;
}

/** Every subscription whose `entity.asset.name` is `name` (how the runbook finds its subscriptions). */
export async function findSubscriptionsByName(os: OpenScaleHttp, name: string): Promise<Subscription[]> {
  return (await listSubscriptions(os)).filter((s) => s.entity.asset.name === name);
}

function duplicates(name: string, found: readonly Subscription[]): DuplicateResourceError {
  return new DuplicateResourceError(
    'subscription',
    `asset name "${name}"`,
    found.map((s) => ({ id: s.metadata.id, createdAt: s.metadata.created_at })),
    'Delete the extra ones (deleteSubscription) so that the deployment metadata names exactly one.',
  );
}

/** The subscription named `name`, undefined when there is none; several is a {@link DuplicateResourceError}. */
export async function findSubscriptionByName(os: OpenScaleHttp, name: string): Promise<Subscription | undefined> {
  const found = await findSubscriptionsByName(os, name);
  if (found.length > 1) throw duplicates(name, found);
  return found[0];
}

/** One subscription by id; a missing one is a RemoteApiError with status 404. */
export async function getSubscription(os: OpenScaleHttp, id: string): Promise<Subscription> {
  return os.request({ path: `/v2/subscriptions/${encodeURIComponent(id)}`, schema: Subscription });
}

/** Polls a subscription until it is `active` (`error` fails with its failure). */
export async function waitForSubscription(os: OpenScaleHttp, id: string, options: WaitOptions = {}): Promise<Subscription> {
  return pollState(
    `subscription ${id}`,
    () => getSubscription(os, id),
    (s) => s.entity.status.state,
    ['active'],
    ['error', 'disabled', 'deleting', 'pending_delete'],
    (s) => failureText(s.entity.status.failure),
    options,
  );
}

/**
 * The body of the runbook's dummy subscription (predecessor §6.2): a random asset and deployment id,
 * both named `name`, a structured multiclass model, deployment type online, and the probability
 * field OpenScale insists on. Nothing links it to the real deployment but the name.
 */
export function dummySubscriptionBody(name: string, dataMartId: string, serviceProviderId: string): SubscriptionRequest {
  return {
    data_mart_id: dataMartId,
    service_provider_id: serviceProviderId,
    asset: { asset_id: randomUUID(), name, url: '', asset_type: 'model', input_data_type: 'structured', problem_type: 'multiclass' },
    deployment: { deployment_id: randomUUID(), name, deployment_type: 'online' },
    asset_properties: { probability_fields: ['probability'] },
  };
}

/** Options of {@link ensureSubscription}. */
export interface EnsureSubscriptionOptions extends MutationOptions {
  /** `entity.asset.name`; see {@link subscriptionNameFor}. */
  readonly name: string;
  readonly serviceProviderId: string;
  /** Default: {@link defaultDataMartId}. */
  readonly dataMartId?: string;
  readonly wait?: WaitOptions;
}

/**
 * The subscription named `name`, or a new dummy one (waited for until `active`). Several with that
 * name is a {@link DuplicateResourceError} (never "the first one"). A found subscription of another
 * service provider is kept as it is; `notes` says so.
 */
export async function ensureSubscription(os: OpenScaleHttp, options: EnsureSubscriptionOptions): Promise<Ensured<Subscription> & { readonly notes: readonly string[] }> {
  const found = await findSubscriptionsByName(os, options.name);
  if (found.length > 1) throw duplicates(options.name, found);
  if (found.length === 1) {
    const s = found[0]!;
    const notes = s.entity.service_provider_id !== options.serviceProviderId
      ? [`the subscription belongs to service provider ${s.entity.service_provider_id}, not ${options.serviceProviderId}; kept as it is`]
      : [];
    const ready = options.plan || s.entity.status.state === 'active' ? s : await waitForSubscription(os, s.metadata.id, options.wait);
    return { id: s.metadata.id, outcome: 'existing', planned: false, resource: ready, changes: [], notes };
  }
  const note = `dummy model subscription of service provider ${options.serviceProviderId}`;
  if (options.plan) {
    options.plan.record({ service: 'openscale', action: 'create', resource: 'subscription', target: options.name, detail: note });
    return { id: PLANNED_ID, outcome: 'created', planned: true, changes: [note], notes: [] };
  }
  const dataMartId = options.dataMartId ?? (await defaultDataMartId(os));
  const created = await os.request({
    method: 'POST',
    path: '/v2/subscriptions',
    body: dummySubscriptionBody(options.name, dataMartId, options.serviceProviderId),
    schema: Subscription,
  });
  const ready = await waitForSubscription(os, created.metadata.id, options.wait);
  return { id: created.metadata.id, outcome: 'created', planned: false, resource: ready, changes: [note], notes: [] };
}

/** Deletes a subscription (with its monitor instances); `force` also drops its measurements. */
export async function deleteSubscription(os: OpenScaleHttp, id: string, options: MutationOptions & { force?: boolean } = {}): Promise<void> {
  if (options.plan) {
    const s = await getSubscription(os, id);
    options.plan.record({ service: 'openscale', action: 'delete', resource: 'subscription', target: s.entity.asset.name ?? id, detail: `id ${id}${options.force ? ', with its measurements' : ''}` });
    return;
  }
  await os.request({ method: 'DELETE', path: `/v2/subscriptions/${encodeURIComponent(id)}`, query: { force: options.force ? 'true' : undefined } });
}
