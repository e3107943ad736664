import type {
  DataMart,
  IntegratedSystem,
  Measurement,
  MonitorDefinition,
  MonitorInstance,
  MonitoringRun,
  ServiceProvider,
  Subscription,
} from '../../../lib/contracts/openscale';
import { metadataOf, readyState } from './context';
import { redactCredentials } from './credentials';
import type {
  DataMartDoc,
  IntegratedSystemDoc,
  MeasurementDoc,
  MonitorDefinitionDoc,
  MonitorInstanceDoc,
  RunDoc,
  ServiceProviderDoc,
  SubscriptionDoc,
} from './model';

/** Wire views of the stored documents (ibm-api-contracts.md §5): `{metadata, entity}` with derived status. */

export function dataMartView(doc: DataMartDoc, base: string): DataMart {
  return { metadata: metadataOf(doc, base, `data_marts/${doc.id}`, 'data_mart'), entity: { ...doc.entity, status: { state: 'active' } } };
}

export function providerView(doc: ServiceProviderDoc, base: string): ServiceProvider {
  const { credentials: _secret, ...rest } = doc.entity;
  const status: ServiceProvider['entity']['status'] = doc.deleted_at
    ? { state: 'pending_delete', deleted_at: doc.deleted_at }
    : { state: readyState(doc.ready_at) };
  return {
    metadata: metadataOf(doc, base, `service_providers/${doc.id}`, 'service_provider'),
    entity: { ...rest, credentials: { secret_id: doc.secret_id }, status },
  };
}

export function subscriptionView(doc: SubscriptionDoc, base: string): Subscription {
  const e = structuredClone(doc.entity);
  // Secrets inside a subscription come back as references or redacted, like a provider's credentials.
  if (e.asset_properties?.training_data_reference) e.asset_properties.training_data_reference = { secret_id: `${doc.id}-training-data-reference` };
  if (e.deployment.scoring_endpoint?.credentials) e.deployment.scoring_endpoint.credentials = redactCredentials(e.deployment.scoring_endpoint.credentials) as Record<string, unknown>;
  if (e.analytics_engine?.credentials) e.analytics_engine.credentials = redactCredentials(e.analytics_engine.credentials) as Record<string, unknown>;
  return {
    metadata: metadataOf(doc, base, `subscriptions/${doc.id}`, 'subscription'),
    entity: { ...e, status: { state: readyState(doc.ready_at) } },
  };
}

export function systemView(doc: IntegratedSystemDoc, base: string): IntegratedSystem {
  return {
    metadata: metadataOf(doc, base, `integrated_systems/${doc.id}`, 'integrated_system'),
    entity: { ...doc.entity, credentials: { ...(redactCredentials(doc.entity.credentials) as Record<string, unknown>), secret_id: doc.secret_id } },
  };
}

export function definitionView(doc: MonitorDefinitionDoc, base: string): MonitorDefinition {
  return { metadata: metadataOf(doc, base, `monitor_definitions/${doc.id}`, 'monitor_definition'), entity: doc.entity };
}

export function instanceView(doc: MonitorInstanceDoc, base: string): MonitorInstance {
  return {
    metadata: metadataOf(doc, base, `monitor_instances/${doc.id}`, 'monitor_instance'),
    entity: { ...doc.entity, status: { state: readyState(doc.ready_at) } },
  };
}

export function runView(doc: RunDoc, base: string): MonitoringRun {
  return { metadata: metadataOf(doc, base, `monitor_instances/${doc.monitor_instance_id}/runs/${doc.id}`, 'monitor_run'), entity: doc.entity };
}

/** `compact` (default) leaves out the measurement's `sources`; `full` keeps them. */
export function measurementView(doc: MeasurementDoc, base: string, format: 'compact' | 'full' = 'full'): Measurement {
  const entity = { ...doc.entity };
  if (format === 'compact') delete entity.sources;
  return {
    metadata: metadataOf(doc, base, `monitor_instances/${doc.monitor_instance_id}/measurements/${doc.id}`, 'measurement'),
    entity,
  };
}
