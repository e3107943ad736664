/**
 * Registers the provider with OpenScale: one `custom_metrics_provider` integrated system pointing
 * at the provider's endpoint (OpenScale logs in through the profile's CPD authorize URL with the
 * profile's user name and API key or password — credentials OpenScale stores, as its protocol
 * requires; they are never logged or returned), and the two monitor definitions
 * (segmentation_metrics and generic_metrics with their default thresholds). Find-or-create
 * throughout; plan mode records what would change.
 */
import type { ProfileClients } from '../config/connect';
import type { MonitorMetadataEntry } from '../metadata/schema';
import type { IntegratedSystem, MonitorDefinition } from '../contracts/openscale';
import type { MonitorSpec } from '../monitors/definitions';
import type { Ensured } from '../openscale/common';
import { cpdTokenInfoCredentials, ensureCustomMetricsProvider } from '../openscale/integrated-systems';
import { ensureMonitorDefinition, type EnsureDefinitionOptions } from '../openscale/monitor-definitions';
import type { MutationOptions } from '../plan';
import type { ThresholdMap } from '../thresholds/schema';
import { MONITOR_SPECS, type MonitorKind } from './kinds';

/** The integrated system's default name. */
export const DEFAULT_PROVIDER_NAME = 'cpd-runbook Metrics Provider';

/** Options of {@link registerProvider}. */
export interface RegisterProviderOptions extends MutationOptions {
  /** The URL OpenScale POSTs runs to (the provider server's endpoint, e.g. `http://host:port/score`). */
  readonly endpointUrl: string;
  /** Integrated system name (default {@link DEFAULT_PROVIDER_NAME}). */
  readonly name?: string;
  /** Per computation: another definition display name (`Segmentation Metrics v22`) or default thresholds. */
  readonly monitors?: Partial<Record<MonitorKind, { readonly name?: string; readonly thresholds?: ThresholdMap }>>;
  /** When a definition exists with other metrics or thresholds: `report` (default) or `update` (PUT). */
  readonly onDefinitionDifference?: EnsureDefinitionOptions['onDifference'];
  /** Rewrite the stored login even if what OpenScale shows of it is unchanged (after an API key change). */
  readonly rotateCredentials?: boolean;
}

/** One registered monitor definition. */
export interface RegisteredMonitor {
  readonly kind: MonitorKind;
  readonly spec: MonitorSpec;
  readonly definition: Ensured<MonitorDefinition> & { readonly differences: readonly string[] };
}

/** What {@link registerProvider} did. */
export interface ProviderRegistration {
  readonly integratedSystem: Ensured<IntegratedSystem>;
  readonly monitors: readonly RegisteredMonitor[];
  /** Entries for `monitor_metadata.yml`, keyed by monitor definition id. */
  readonly monitorMetadata: Readonly<Record<string, MonitorMetadataEntry>>;
  readonly planned: boolean;
}

/** Registers the integrated system and both monitor definitions; see the module comment. */
export async function registerProvider(clients: ProfileClients, options: RegisterProviderOptions): Promise<ProviderRegistration> {
  const os = clients.openscale;
  const name = options.name ?? DEFAULT_PROVIDER_NAME;
  const integratedSystem = await ensureCustomMetricsProvider(
    os,
    { name, description: `${name}: custom metrics of cpd-runbook (segmentation and generic metrics)`, endpoint: options.endpointUrl, credentials: cpdTokenInfoCredentials(clients.profile) },
    { plan: options.plan, rotateCredentials: options.rotateCredentials },
  );
  const monitors: RegisteredMonitor[] = [];
  for (const kind of ['segmentation', 'generic'] as const) {
    const spec = MONITOR_SPECS[kind];
    const custom = options.monitors?.[kind];
    const definition = await ensureMonitorDefinition(os, spec, { name: custom?.name, thresholds: custom?.thresholds, onDifference: options.onDefinitionDifference, plan: options.plan });
    monitors.push({ kind, spec, definition });
  }
  const monitorMetadata: Record<string, MonitorMetadataEntry> = {};
  for (const m of monitors) {
    monitorMetadata[m.definition.id] = {
      integrated_system_id: integratedSystem.id,
      provider_endpoint: options.endpointUrl,
      monitor_name: options.monitors?.[m.kind]?.name ?? m.spec.name,
    };
  }
  return { integratedSystem, monitors, monitorMetadata, planned: Boolean(options.plan) };
}
